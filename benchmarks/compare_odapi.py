"""tfsynth's model_main_tf2 against the real OD API's, side by side on one machine: median s/step and the ratio
tfsynth / OD API for each model, and the evaluator's wall time on the same checkpoint.

Installs nothing. Point it at a working OD API with `--odapi_research DIR` (or $ODAPI_RESEARCH): the folder that
holds object_detection/ (and slim/), protos compiled; `--odapi_python` (or $ODAPI_PYTHON) is the interpreter that
runs it (default: this one). benchmarks/README.md says how to set one up in a scratch venv. Without an OD API the
script prints the last reference figures it knows (REFERENCE below) and exits.

What runs: for each round, for each model, both trainers as commands on the same pipeline.config and the same
TFRecords (`python object_detection/model_main_tf2.py` with TF_USE_LEGACY_KERAS=1 and research/ + research/slim on
PYTHONPATH; `python -m tfsynth.model_main_tf2 --precision float32`, the OD API's numerics), the order of the two
alternating from round to round so that a change of load on the machine falls on both. The configs are the OD API's
sample configs (SSD MobileNetV2 320, Faster R-CNN ResNet50 640, EfficientDet D0 512, CenterNet ResNet50 V1 FPN
without its keypoint task, at 320) and the main job's configs/ssdlite_fridge_quick.config,
with num_classes, batch size, steps and record paths set, fine_tune_checkpoint cleared (random initialisation in
both: no weights to fetch), the learning rates scaled to the batch (linearly from the config's batch, so that neither
trainer diverges: a diverging loss changes the time per step) and use_bfloat16 off (a TPU setting). Records: `--records_dir` (train-*.tfrecord,
val-*.tfrecord, label_map.pbtxt) or, by default, a small set rendered with `python -m tfsynth.generate --preset fast`.

How s/step is measured: from the per-step times that both trainers log ("Step N per-step time X.XXXs"), not from
wall time. The OD API runs its train step 100 steps per call (model_lib_v2.NUM_STEPS_PER_ITERATION) and logs the
mean time of each 100-step call; its first call holds the tracing and startup. tfsynth logs step 1 alone (its
tracing), then the mean over each 100 steps after it (steps 101, 201, ...) and the last step. Each logged figure
covers the steps since the previous one; only the figures whose steps all lie after `--warmup_steps` (default 100)
count, weighted by their number of steps, so both trainers are timed over nearly the same steps (the OD API's
101..N, tfsynth's 102..N). So `--steps` must exceed `--warmup_steps` by at least 100 and be a multiple of 100. A
round's figure is that steady-state mean; the median over rounds is printed, with the range. CLI wall time and
peak RSS of each run are printed beside it (they include startup and the first steps).

Evaluation: in each round, both evaluators (`--checkpoint_dir`, one pass, exit at the checkpoint's step) score the
checkpoint that the OD API's trainer wrote for the first model, on the val records; their CLI wall times (startup,
restore, every val image, metrics) are compared.

    python benchmarks/compare_odapi.py --odapi_research /work/odapi_research \
        --odapi_python /work/odapi_venv/bin/python [--models ssd_b2,ssd_b16,ssdlite_b16,frcnn_b2,effdet_d0_b2,centernet_r50_b2] [--rounds 3] \
        [--steps 300] [--work_dir DIR]
    python benchmarks/compare_odapi.py        # no OD API: the reference figures
The last line printed is the ratios (or, without an OD API, the last reference's).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Optional, Sequence

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tfsynth.utils.shared_data import SHARED_DATA  # noqa: E402

SAMPLE_CONFIGS = SHARED_DATA / "odapi_reference" / "configs_tf2"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One comparison: a config and a batch size (and model.<meta-architecture> edits in text format)."""
    title: str
    config: pathlib.Path
    batch_size: int
    model_edits: str = ""


MODELS: dict[str, ModelSpec] = {
    "ssd_b2": ModelSpec("SSD MobileNetV2 320, batch 2",
                        SAMPLE_CONFIGS / "ssd_mobilenet_v2_320x320_coco17_tpu-8.config", 2),
    "ssd_b16": ModelSpec("SSD MobileNetV2 320, batch 16",
                         SAMPLE_CONFIGS / "ssd_mobilenet_v2_320x320_coco17_tpu-8.config", 16),
    "ssdlite_b16": ModelSpec("SSDLite MobileNetV2 300 (main job), batch 16",
                             REPO / "configs" / "ssdlite_fridge_quick.config", 16),
    "frcnn_b2": ModelSpec("Faster R-CNN ResNet50 640, batch 2",
                          SAMPLE_CONFIGS / "faster_rcnn_resnet50_v1_640x640_coco17_tpu-8.config", 2),
    "effdet_d0_b2": ModelSpec("EfficientDet D0 512, batch 2",
                              SAMPLE_CONFIGS / "ssd_efficientdet_d0_512x512_coco17_tpu-8.config", 2),
    # The box-only CenterNet of the ResNet50 V1 FPN keypoint sample (keypoint settings removed), at 320 so that a
    # round takes minutes.
    "centernet_r50_b2": ModelSpec(
        "CenterNet ResNet50 V1 FPN 320, batch 2",
        SAMPLE_CONFIGS / "centernet_resnet50_v1_fpn_512x512_kpts_coco17_tpu-8.config", 2,
        "image_resizer { keep_aspect_ratio_resizer { min_dimension: 320 max_dimension: 320 } }"),
}

# The last figures known, newest last; printed when no OD API is given. Each was taken on a 2-core machine that
# other jobs loaded, so only the ratios mean anything, and even they are noisy.
REFERENCE: list[dict] = [
    {"date": "before 2026-12-06", "source": "issue 17 (model_main_tf2 CLIs, interleaved rounds, loaded machine)",
     "figures": [
         "SSD MobileNetV2 320 batch 2: steady s/step tfsynth 0.66-0.88, OD API 0.40-0.82; CLI wall for the same "
         "steps tfsynth 4:08-5:16, OD API 3:09-7:07 (no clear lead)",
         "Faster R-CNN ResNet50 640 batch 2: CLI wall tfsynth 1:42-3:20, OD API 2:12-3:17; peak RSS 5.0 GB "
         "against 6.7 GB",
         "evaluation of one checkpoint on the same records: tfsynth 0:53-1:54, OD API 1:52-2:09",
         "tfsynth's first training step: 32-36 s"]},
    {"date": "2026-12-06", "source": "this script, OD API = tf-object-detection-api 0.1 patched for TF 2.20 "
                                     "(benchmarks/README.md), 1 round, 200 steps (steady: 101-200), 64 + 16 "
                                     "fast-preset renders, 8 classes, random init; run at the lowest CPU priority "
                                     "on 2 cores that long training jobs kept busy (load average 7.5): a smoke "
                                     "test of the script, not a verdict",
     "figures": [
         "SSD MobileNetV2 320 batch 2: tfsynth 0.553 s/step, OD API 0.336 (ratio 1.65); an earlier round gave "
         "0.451 vs 0.321 (tfsynth slower both times) and a standalone OD API run 1.029: only an idle machine can "
         "tell how much. CLI wall 234 s vs "
         "284 s, peak RSS 1597 vs 1811 MB",
         "SSDLite MobileNetV2 300 (main job) batch 16: tfsynth 3.249 s/step, OD API 5.340 (ratio 0.61); CLI wall "
         "867 s vs 1393 s, peak RSS 2340 vs 4606 MB",
         "evaluator on the OD API's SSD b2 step-200 checkpoint, 16 val images: CLI wall tfsynth 35 s, OD API 58 s "
         "(ratio 0.60)",
         "not measured: SSD MobileNetV2 batch 16, Faster R-CNN ResNet50 batch 2 (no time on the loaded machine)",
         "ratio tfsynth / OD API (loaded machine, 1 round): ssd_b2 1.65, ssdlite_b16 0.61, eval 0.60"]},
    {"date": "2026-12-07", "source": "this script on an idle 2-core machine (nothing else running; no GPU), "
                                     "learning rates scaled to the batch, 64 fast-preset renders, random init; "
                                     "tfsynth at 1ea8d21 and later (prefix NMS in hard example mining)",
     "figures": [
         "SSDLite MobileNetV2 300 (main job) batch 16, 2 rounds of 200 steps (steady 101-200): tfsynth 0.479 "
         "(0.476-0.482) s/step, OD API 1.087 (1.048-1.126), ratio 0.44; CLI wall 135 s vs 302 s, peak RSS 2180 "
         "vs 4477 MB",
         "SSD MobileNetV2 320 batch 2, same rounds: tfsynth 0.152 (0.146-0.159), OD API 0.145 (0.133-0.156), "
         "ratio 1.06; CLI wall 54 s vs 80 s, peak RSS 1612 vs 1813 MB. Before this stop's changes, 2 rounds of 300 "
         "steps with the sample config's rates: 0.173 vs 0.147 (ratio 1.17)",
         "SSD MobileNetV2 320 batch 16, 1 round of 200 steps: tfsynth 0.926 s/step, OD API 0.949, ratio 0.98; "
         "CLI wall 211 s vs 258 s, peak RSS 3779 vs 4425 MB",
         "not measured on the idle machine: Faster R-CNN ResNet50 batch 2, evaluators",
         "ratio tfsynth / OD API (idle machine): ssdlite_b16 0.44, ssd_b2 1.06, ssd_b16 0.98 (1 round)"]},
    {"date": "2026-12-07 (later)", "source": "this script on the idle 2-core machine, same records; tfsynth at "
                                             "c3c4139 (records without TF), before AutoGraph was turned off",
     "figures": [
         "Faster R-CNN ResNet50 640 batch 2, 1 round of 200 steps (steady 101-200): tfsynth 3.431 s/step, OD API "
         "3.382, ratio 1.01; CLI wall 717 s vs 738 s, peak RSS 4754 vs 4688 MB; evaluator on its checkpoint "
         "57 s vs 57 s",
         "SSD MobileNetV2 320 batch 2, 2 rounds of 200 steps: tfsynth 0.154 (0.147-0.162), OD API 0.136 "
         "(0.135-0.136), ratio 1.14; evaluator on the OD API's step-200 checkpoint (16 val images): tfsynth 18 s "
         "(17-18), OD API 44 s (33-54), ratio 0.41",
         "after AutoGraph was turned off in the train, eval and input functions (same checkpoint, tfsynth only, 2 "
         "rounds each, interleaved): SSD evaluator 16.4-16.8 s -> 9.4-9.6 s, the same metrics",
         "ratio tfsynth / OD API (idle machine): frcnn_b2 1.01, ssd_b2 1.14, eval (SSD) 0.41, eval (Faster R-CNN) "
         "0.99"]},
    {"date": "2026-12-07 (stop 30)", "source": "this script, --models effdet_d0_b2 --rounds 2 --steps 200, 64 + 16 "
                                              "fast-preset renders, random init; 2-core machine, nothing else "
                                              "running except a 14 s job during the last evaluation",
     "figures": [
         "EfficientDet D0 512 batch 2, steady 101-200: tfsynth 0.774 (0.730-0.818) s/step, OD API 0.718 "
         "(0.680-0.756), ratio 1.08; CLI wall 185 s vs 241 s, peak RSS 3170 vs 3791 MB",
         "evaluator on the OD API's step-200 checkpoint, 16 val images: tfsynth 17 s (16-17), OD API 47 s (one "
         "round: the other failed in its image summaries on Pillow 10 before a patch), ratio 0.35",
         "ratio tfsynth / OD API: effdet_d0_b2 1.08, eval 0.35"]},
    {"date": "2026-12-07 (stop 31)", "source": "this script, --models centernet_r50_b2 --rounds 1 --steps 200, 64 + "
                                              "16 fast-preset renders, random init; 2-core machine, nothing else "
                                              "running",
     "figures": [
         "CenterNet ResNet50 V1 FPN 320 (keypoint task removed) batch 2, steady 101-200: tfsynth 0.993 s/step, "
         "OD API 1.035, ratio 0.96; CLI wall 214 s vs 257 s, peak RSS 1935 vs 2233 MB",
         "evaluator on the OD API's step-200 checkpoint, 16 val images: tfsynth 16 s, OD API 44 s, ratio 0.37; both "
         "gave the same losses (object_center 7.6617, box/scale 2.7409, box/offset 0.5129)",
         "ratio tfsynth / OD API: centernet_r50_b2 0.96, eval 0.37"]},
]

STEP_LINE = re.compile(r"Step (\d+) per-step time ([0-9.]+)s")
EVAL_METRIC = "DetectionBoxes_Precision/mAP"
ODAPI_STEPS_PER_CALL = 100  # model_lib_v2.NUM_STEPS_PER_ITERATION: the OD API's train steps per logged figure


def parse_step_times(log_text: str) -> list[tuple[int, float]]:
    """(step, mean s/step since the previous logged step) of every "Step N per-step time X.XXXs" line; both
    trainers log this form (the OD API through absl, tfsynth through logging). The OD API prints each line twice
    (TensorFlow's logger and absl's): a line equal to the one before is dropped."""
    points: list[tuple[int, float]] = []
    for match in STEP_LINE.finditer(log_text):
        point = (int(match.group(1)), float(match.group(2)))
        if not points or points[-1] != point:
            points.append(point)
    return points


def steady_seconds_per_step(points: Sequence[tuple[int, float]], warmup_steps: int) -> Optional[float]:
    """Mean s/step over the logged intervals that start at or after `warmup_steps`, weighted by their steps; None
    when no interval lies wholly after the warm-up (too few steps, or a run that died early)."""
    total_seconds, total_steps, previous = 0.0, 0, 0
    for step, seconds in points:
        if step < previous:  # the count starts again: a second run's log after the first's; only the last counts
            total_seconds, total_steps, previous = 0.0, 0, 0
        if previous >= warmup_steps:
            total_seconds += seconds * (step - previous)
            total_steps += step - previous
        previous = step
    return total_seconds / total_steps if total_steps else None


@dataclasses.dataclass
class RunResult:
    """One command: its exit status, wall seconds, peak RSS of its main process (MB) and output file."""
    returncode: int
    wall_seconds: float
    peak_rss_mb: float
    log_path: pathlib.Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def run_command(argv: list[str], log_path: pathlib.Path, env: dict[str, str], timeout: float,
                cwd: pathlib.Path) -> RunResult:
    """Runs argv in its own session, output into log_path. Past `timeout` the whole process group is killed (a
    trainer's input workers would otherwise live on and load every later run)."""
    started = time.perf_counter()
    with open(log_path, "w") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                   start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
        timer.start()
        try:
            # wait4 rather than wait: it gives this child's own peak RSS, not the maximum over all children so far.
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
    # Reaped by wait4: recorded so that Popen never waits on a gone pid.
    process.returncode = os.waitstatus_to_exitcode(status)
    return RunResult(process.returncode, time.perf_counter() - started, usage.ru_maxrss / 1024,
                     log_path)


@dataclasses.dataclass
class Trainer:
    """How to start one implementation's model_main_tf2."""
    name: str
    argv: list[str]
    env: dict[str, str]
    eval_args: list[str] = dataclasses.field(default_factory=list)


def make_trainers(odapi_research: pathlib.Path, odapi_python: str) -> dict[str, Trainer]:
    """The two commands and their environments. The OD API needs tf-keras (Keras 2) under TF 2.16+."""
    base = dict(os.environ)
    odapi_env = dict(base, TF_USE_LEGACY_KERAS="1",
                     PYTHONPATH=os.pathsep.join(filter(None, [str(odapi_research), str(odapi_research / "slim"),
                                                              base.get("PYTHONPATH", "")])))
    tfsynth_env = dict(base, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), base.get("PYTHONPATH", "")])))
    return {
        "tfsynth": Trainer("tfsynth", [sys.executable, "-m", "tfsynth.model_main_tf2", "--precision", "float32"],
                           tfsynth_env,
                           # Wait 1 s, not 180, between checkpoints, so that the wall time is the evaluation's.
                           eval_args=["--eval_wait_interval=1"]),
        # --alsologtostderr, as the OD API's own instructions run it: absl's INFO lines (the per-step times) go to
        # the output this script reads.
        "odapi": Trainer("OD API", [odapi_python, str(odapi_research / "object_detection" / "model_main_tf2.py"),
                                    "--alsologtostderr"], odapi_env),
    }


def check_odapi(odapi_research: pathlib.Path) -> None:
    """Fails with a one-line reason when the folder does not hold a usable OD API checkout."""
    if not (odapi_research / "object_detection" / "model_main_tf2.py").is_file():
        raise SystemExit(f"compare_odapi: error: {odapi_research} holds no object_detection/model_main_tf2.py "
                         f"(--odapi_research must name the OD API's research/ folder)")
    if not (odapi_research / "object_detection" / "protos" / "pipeline_pb2.py").is_file():
        raise SystemExit(f"compare_odapi: error: {odapi_research}/object_detection/protos holds no pipeline_pb2.py: "
                         f"compile the protos first (benchmarks/README.md)")


def render_records(folder: pathlib.Path, num_images: int, validation_images: int) -> pathlib.Path:
    """A small fast-preset render of the fridge catalog (8 classes), train and val split, in its own process
    (the renderer and TensorFlow must not share one)."""
    subprocess.run([sys.executable, "-m", "tfsynth.generate", f"--output_dir={folder}", f"--num_images={num_images}",
                    f"--validation_images={validation_images}", "--num_shards=1", "--preset=fast",
                    "--catalog=" + str(REPO / "configs" / "fridge_us_catalog.yaml"),
                    "--label_map=" + str(REPO / "configs" / "fridge_us_label_map.pbtxt")],
                   check=True, capture_output=True, cwd=REPO)
    return folder


def write_pipeline(spec: ModelSpec, records: pathlib.Path, steps: int, path: pathlib.Path) -> pathlib.Path:
    """The spec's config with this run's classes, batch, steps and records; written as text both trainers read."""
    from google.protobuf import text_format
    from tfsynth.protos import pipeline_pb2
    from tfsynth.utils import config_io, label_map_util

    config = text_format.Parse(spec.config.read_text(), pipeline_pb2.TrainEvalPipelineConfig())
    config_io.remove_keypoint_settings(config)
    label_map = records / "label_map.pbtxt"
    meta = getattr(config.model, config.model.WhichOneof("model"))
    text_format.Merge(spec.model_edits, meta)
    meta.num_classes = label_map_util.get_max_label_map_index(label_map_util.load_labelmap(str(label_map)))
    train = config.train_config
    # The sample configs' rates are set for their batch (512 or 64); at batch 2 from random weights they drive
    # the loss into the thousands, where hard-example mining and NMS take longer per step, and a run diverges or
    # not by chance. Scaled linearly to this batch, both trainers stay on a comparable, stable course.
    _scale_learning_rates(train.optimizer, spec.batch_size / max(train.batch_size, 1))
    train.batch_size = spec.batch_size
    train.num_steps = steps
    train.use_bfloat16 = False
    train.ClearField("fine_tune_checkpoint")
    config.train_input_reader.label_map_path = str(label_map)
    del config.train_input_reader.tf_record_input_reader.input_path[:]
    config.train_input_reader.tf_record_input_reader.input_path.append(str(records / "train-*.tfrecord"))
    if not config.eval_input_reader:
        config.eval_input_reader.add()
    for reader in config.eval_input_reader:
        reader.label_map_path = str(label_map)
        reader.shuffle = False
        reader.num_epochs = 1
        del reader.tf_record_input_reader.input_path[:]
        reader.tf_record_input_reader.input_path.append(str(records / "val-*.tfrecord"))
    path.write_text(text_format.MessageToString(config))
    return path


def _scale_learning_rates(message, factor: float) -> None:
    """Multiplies every float field named *learning_rate* (base, warm-up, constant, manual steps) by factor."""
    for field, value in message.ListFields():
        if field.message_type is not None:
            items = value if field.is_repeated else [value]
            for item in items:
                _scale_learning_rates(item, factor)
        elif field.cpp_type == field.CPPTYPE_FLOAT and "learning_rate" in field.name:
            setattr(message, field.name, value * factor)


def median_and_range(values: Sequence[float], digits: int = 3) -> str:
    """'0.512 (0.498-0.530, 3 rounds)'."""
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.{digits}f} (1 round)"
    return (f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f}, "
            f"{len(values)} rounds)")


def print_reference() -> None:
    """The reference figures, oldest first; the last line is the newest figure."""
    print("No OD API given (--odapi_research or $ODAPI_RESEARCH): the last reference figures known. They were taken "
          "on loaded 2-core machines: ratios only, and noisy.")
    for entry in REFERENCE:
        print(f"{entry['date']}, {entry['source']}:")
        for figure in entry["figures"]:
            print(f"  {figure}")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--odapi_research", default=os.environ.get("ODAPI_RESEARCH"),
                        help="The OD API's research/ folder (object_detection/ with compiled protos, slim/); "
                             "default $ODAPI_RESEARCH. Without it the reference figures are printed.")
    parser.add_argument("--odapi_python", default=os.environ.get("ODAPI_PYTHON") or sys.executable,
                        help="Interpreter that runs the OD API (default $ODAPI_PYTHON, else this one).")
    parser.add_argument("--models", default="ssd_b2,ssd_b16,ssdlite_b16,frcnn_b2",
                        help="Comma-separated, of: " + ", ".join(MODELS))
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved rounds of both trainers.")
    parser.add_argument("--steps", type=int, default=300, help="Training steps per run (a multiple of 100).")
    parser.add_argument("--warmup_steps", type=int, default=100,
                        help="Steps left out of s/step (the OD API's first 100-step call holds its startup).")
    parser.add_argument("--no_eval", action="store_true", help="Skip the evaluators.")
    parser.add_argument("--records_dir", help="train-*.tfrecord, val-*.tfrecord and label_map.pbtxt to use "
                                              "(default: render a small set).")
    parser.add_argument("--num_images", type=int, default=64, help="Train renders when rendering.")
    parser.add_argument("--validation_images", type=int, default=16, help="Val renders when rendering.")
    parser.add_argument("--work_dir", help="Where configs, model folders and logs go (default: a temporary "
                                           "folder, removed at the end).")
    parser.add_argument("--timeout", type=float, default=3600, help="Seconds one command may run.")
    args = parser.parse_args(argv)
    unknown = [name for name in args.models.split(",") if name not in MODELS]
    if unknown:
        parser.error(f"unknown --models {', '.join(unknown)}; known: {', '.join(MODELS)}")
    if args.steps % ODAPI_STEPS_PER_CALL or args.steps < args.warmup_steps + ODAPI_STEPS_PER_CALL:
        parser.error(f"--steps {args.steps}: the OD API trains and logs in calls of {ODAPI_STEPS_PER_CALL} steps, "
                     f"so --steps must be a multiple of {ODAPI_STEPS_PER_CALL} and at least --warmup_steps + "
                     f"{ODAPI_STEPS_PER_CALL}")
    return args


def compare(args: argparse.Namespace, work: pathlib.Path) -> list[str]:
    """Runs every round; returns the summary lines (printed last)."""
    research = pathlib.Path(args.odapi_research).resolve()
    check_odapi(research)
    trainers = make_trainers(research, args.odapi_python)
    records = pathlib.Path(args.records_dir).resolve() if args.records_dir else render_records(
        work / "records", args.num_images, args.validation_images)
    models = args.models.split(",")
    pipelines = {name: write_pipeline(MODELS[name], records, args.steps, work / f"{name}.config") for name in models}
    steady: dict[tuple[str, str], list[float]] = {}
    walls: dict[tuple[str, str], list[float]] = {}
    rss: dict[tuple[str, str], list[float]] = {}
    eval_walls: dict[str, list[float]] = {}

    def trainer_order(round_index: int) -> list[str]:
        # Alternate who goes first: a load that rises or falls during a round then falls on both in turn.
        return ["tfsynth", "odapi"] if round_index % 2 == 0 else ["odapi", "tfsynth"]

    for round_index in range(args.rounds):
        for name in models:
            for key in trainer_order(round_index):
                trainer = trainers[key]
                model_dir = work / f"r{round_index}_{name}_{key}"
                result = run_command(trainer.argv + [
                    f"--pipeline_config_path={pipelines[name]}", f"--model_dir={model_dir}",
                    f"--num_train_steps={args.steps}", f"--checkpoint_every_n={args.steps}"],
                    work / f"r{round_index}_{name}_{key}.log", trainer.env, args.timeout, REPO)
                seconds = steady_seconds_per_step(parse_step_times(result.log_text()), args.warmup_steps)
                line = (f"round {round_index + 1} {name} {trainer.name}: exit {result.returncode}, wall "
                        f"{result.wall_seconds:.0f} s, peak RSS {result.peak_rss_mb:.0f} MB, steady "
                        + (f"{seconds:.3f} s/step" if seconds is not None else "n/a"))
                print(line, flush=True)
                if result.returncode != 0 or seconds is None:
                    print(f"  see {result.log_path}:\n  " + "\n  ".join(result.log_text().splitlines()[-8:]),
                          flush=True)
                    continue
                steady.setdefault((name, key), []).append(seconds)
                walls.setdefault((name, key), []).append(result.wall_seconds)
                rss.setdefault((name, key), []).append(result.peak_rss_mb)
        checkpoint_dir = work / f"r{round_index}_{models[0]}_odapi"
        if not args.no_eval and not (checkpoint_dir / "checkpoint").is_file():
            # Both evaluators would wait for a checkpoint and exit 0 after their timeout: a false figure.
            print(f"round {round_index + 1} eval: skipped, the OD API's trainer left no checkpoint in "
                  f"{checkpoint_dir}", flush=True)
        elif not args.no_eval:
            for key in trainer_order(round_index):
                trainer = trainers[key]
                result = run_command(trainer.argv + [
                    f"--pipeline_config_path={pipelines[models[0]]}",
                    f"--model_dir={work / f'eval_r{round_index}_{key}'}", f"--checkpoint_dir={checkpoint_dir}",
                    f"--num_train_steps={args.steps}", "--eval_timeout=1", *trainer.eval_args],
                    work / f"eval_r{round_index}_{key}.log", trainer.env, args.timeout, REPO)
                # Both log the COCO metrics by the OD API's names; without them no checkpoint was scored.
                scored = EVAL_METRIC in result.log_text()
                print(f"round {round_index + 1} eval {models[0]} (OD API's checkpoint) {trainer.name}: exit "
                      f"{result.returncode}, wall {result.wall_seconds:.0f} s"
                      + ("" if scored else f", no {EVAL_METRIC} logged"), flush=True)
                if result.returncode != 0 or not scored:
                    print(f"  see {result.log_path}:\n  " + "\n  ".join(result.log_text().splitlines()[-8:]),
                          flush=True)
                    continue
                eval_walls.setdefault(key, []).append(result.wall_seconds)

    summary = [f"Steady s/step over steps {args.warmup_steps + 1}-{args.steps}, median over rounds (range):"]
    ratios = []
    for name in models:
        ours, theirs = steady.get((name, "tfsynth"), []), steady.get((name, "odapi"), [])
        ratio = statistics.median(ours) / statistics.median(theirs) if ours and theirs else None
        summary.append(f"  {MODELS[name].title}: tfsynth {median_and_range(ours)}, OD API {median_and_range(theirs)}"
                       + (f", ratio {ratio:.2f}" if ratio else "") + "; CLI wall median "
                       f"{statistics.median(walls.get((name, 'tfsynth'), [float('nan')])):.0f} s vs "
                       f"{statistics.median(walls.get((name, 'odapi'), [float('nan')])):.0f} s, peak RSS "
                       f"{max(rss.get((name, 'tfsynth'), [float('nan')])):.0f} MB vs "
                       f"{max(rss.get((name, 'odapi'), [float('nan')])):.0f} MB")
        ratios.append(f"{name} {ratio:.2f}" if ratio else f"{name} n/a")
    if not args.no_eval:
        ours, theirs = eval_walls.get("tfsynth", []), eval_walls.get("odapi", [])
        ratio = statistics.median(ours) / statistics.median(theirs) if ours and theirs else None
        summary.append(f"  Evaluator CLI wall on the OD API's {models[0]} checkpoint: tfsynth "
                       f"{median_and_range(ours, 0)} s, OD API {median_and_range(theirs, 0)} s"
                       + (f", ratio {ratio:.2f}" if ratio else ""))
        ratios.append(f"eval {ratio:.2f}" if ratio else "eval n/a")
    summary.append("Ratio tfsynth / OD API (below 1: tfsynth faster): " + ", ".join(ratios))
    return summary


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if not args.odapi_research:
        print_reference()
        return
    if args.work_dir:
        work = pathlib.Path(args.work_dir).resolve()
        work.mkdir(parents=True, exist_ok=True)
        summary = compare(args, work)
    else:
        with tempfile.TemporaryDirectory(prefix="compare_odapi_") as temporary:
            summary = compare(args, pathlib.Path(temporary))
    print("\n".join(summary), flush=True)


if __name__ == "__main__":
    main()
