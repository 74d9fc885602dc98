"""python -m tfsynth.experiments STUDY.yaml: the paper's studies, each row rendered, trained and scored on real photos.

A study is one YAML file: the shared settings (catalog, label map, pipeline.config, renders, steps) and a list of
rows, each changing what it names: cues held fixed, number of images, products per image, distractors, the
catalog (3D model dictionary size), the pipeline.config (architecture), layers fine-tuned (freeze_variables /
update_trainable_variables), no COCO transfer, early stopping on rendered validation images, or the COCO model
before fine-tuning with its classes mapped to ours, or any other key of its pipeline.config (overrides). Every row
is evaluated on the same real photos; the study writes a comparison table, results.json and plots. Renders are
shared by rows that ask for the same ones, every step resumes where it stopped (its wall time summed over the
attempts), and --rows runs chosen rows alone.

Example (configs/studies/cues.yaml holds the paper's cue study):

    title: Cue study
    pipeline_config: configs/ssdlite_fridge_quick.config
    catalog: configs/fridge_us_catalog.yaml
    label_map: configs/fridge_us_label_map.pbtxt
    num_images: 1000
    num_train_steps: 300
    rows:
      - {name: all cues}
      - {name: color fixed, cues: -color}
      - {name: no transfer, fine_tune: false}
      - {name: heads only, freeze_variables: [FeatureExtractor]}
      - {name: COCO model, kind: coco_mapped, class_mapping: configs/coco_to_fridge_us.yaml}
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import re
import shlex
import subprocess
import sys
import threading
import time
from typing import Any, Optional

import yaml
from absl import app, flags, logging

from tfsynth.utils.files import write_atomically

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_REAL_DIR = REPO_ROOT.parent / "shared" / "data" / "real" / "cntk_fridge_us"
PRETRAINED_NAME = "ssdlite_mobilenet_v2_coco"


_COCO_MAPPED_FIELDS = {"name", "kind", "class_mapping"}  # a coco_mapped row renders and trains nothing
_EARLY_STOPPING_KEYS = {"metric", "patience", "every_n_steps"}


class StudyError(ValueError):
    """A study file that cannot be run; the message names the file and the field."""


@dataclasses.dataclass
class RowSpec:
    """One row of a study; None means "as the study's shared setting"."""

    name: str
    kind: str = "train"  # train | coco_mapped
    cues: Optional[str] = None
    num_images: Optional[int] = None
    products_per_image: Optional[str] = None
    distractors: Optional[str] = None
    catalog: Optional[str] = None
    pipeline_config: Optional[str] = None
    num_train_steps: Optional[int] = None
    fine_tune: bool = True
    freeze_variables: Optional[list] = None
    update_trainable_variables: Optional[list] = None
    early_stopping: Optional[dict] = None  # {metric, patience, every_n_steps}
    class_mapping: Optional[str] = None
    # key=value overrides of this row's pipeline.config, applied after the study's (same keys as Study.overrides).
    overrides: Optional[dict] = None


@dataclasses.dataclass
class Study:
    """The shared settings of a study and its rows."""

    title: str
    pipeline_config: str
    catalog: str
    label_map: str
    rows: list[RowSpec]
    num_images: int = 1000
    validation_images: int = 100
    num_train_steps: int = 1000
    preset: str = "default"
    width: Optional[int] = None  # render size; None: the generator's default (640x480)
    height: Optional[int] = None
    seed: int = 0
    num_workers: Optional[int] = None
    real_data_dir: str = str(DEFAULT_REAL_DIR)
    # Optional YAML {our class: COCO class}: start the class head from those COCO classes (tfsynth.pretrained.class_head)
    # and fine-tune everything ("full"); without it, the OD API's "detection" restore (feature extractor only).
    class_init: Optional[str] = None
    # key=value overrides of every row's pipeline.config (config_util.merge_external_params_with_configs keys or
    # dotted paths), e.g. {batch_size: 2}.
    overrides: dict = dataclasses.field(default_factory=dict)
    notes: list = dataclasses.field(default_factory=list)
    source: Optional[str] = None  # the study file (set by load_study; not a YAML field)


def _resolve(path: Optional[str], base: pathlib.Path) -> Optional[str]:
    """A path as written in a study file: relative to the file's folder, else to the repository root."""
    if path is None:
        return None
    candidate = pathlib.Path(path)
    if candidate.is_absolute():
        return str(candidate)
    for root in (base, REPO_ROOT):
        if (root / candidate).exists():
            return str((root / candidate).resolve())
    return str((REPO_ROOT / candidate).resolve())


def load_study(path: str) -> Study:
    """Reads and checks a study YAML file; errors name the file, the row and the field."""
    try:
        data = yaml.safe_load(pathlib.Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise StudyError(f"{path}: cannot read study: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list) or not data["rows"]:
        raise StudyError(f"{path}: expected a mapping with a non-empty list 'rows'")
    study_fields = {f.name for f in dataclasses.fields(Study)} - {"rows", "source"}
    row_fields = {f.name for f in dataclasses.fields(RowSpec)}
    unknown = sorted(set(data) - study_fields - {"rows"})
    if unknown:
        raise StudyError(f"{path}: unknown field(s) {unknown}; expected some of {sorted(study_fields | {'rows'})}")
    rows = []
    for index, entry in enumerate(data["rows"]):
        where = f"{path}: rows[{index}]"
        if not isinstance(entry, dict) or not entry.get("name"):
            raise StudyError(f"{where}: expected a mapping with at least a 'name'")
        bad = sorted(set(entry) - row_fields)
        if bad:
            raise StudyError(f"{where} ({entry['name']!r}): unknown field(s) {bad}; expected some of "
                             f"{sorted(row_fields)}")
        row = RowSpec(**entry)
        if row.kind not in ("train", "coco_mapped"):
            raise StudyError(f"{where} ({row.name!r}): field 'kind': expected train or coco_mapped, got {row.kind!r}")
        if row.early_stopping is not None:
            if not isinstance(row.early_stopping, dict) or set(row.early_stopping) - _EARLY_STOPPING_KEYS:
                raise StudyError(f"{where} ({row.name!r}): field 'early_stopping': expected a mapping with some of "
                                 f"{sorted(_EARLY_STOPPING_KEYS)}, got {row.early_stopping!r}")
        if row.overrides is not None and not isinstance(row.overrides, dict):
            raise StudyError(f"{where} ({row.name!r}): field 'overrides': expected a mapping of config keys to "
                             f"values, got {row.overrides!r}")
        if row.kind == "coco_mapped" and not row.class_mapping:
            raise StudyError(f"{where} ({row.name!r}): field 'class_mapping' is needed for kind coco_mapped")
        # A field the row's kind never reads would be ignored without a word: refuse it instead.
        read_by_kind = _COCO_MAPPED_FIELDS if row.kind == "coco_mapped" else row_fields - {"class_mapping"}
        unused = sorted(set(entry) - read_by_kind)
        if unused:
            raise StudyError(f"{where} ({row.name!r}): field(s) {unused} have no effect on a row of kind "
                             f"{row.kind}; it reads only {sorted(read_by_kind)}")
        rows.append(row)
    names = [row.name for row in rows]
    if len(set(names)) != len(names):
        raise StudyError(f"{path}: row names must be unique, got {names}")
    missing = [key for key in ("title", "pipeline_config", "catalog", "label_map") if key not in data]
    if missing:
        raise StudyError(f"{path}: missing field(s) {missing}")
    study = Study(rows=rows, **{k: v for k, v in data.items() if k != "rows"})
    resolved = pathlib.Path(path).resolve()
    base = resolved.parent
    study.source = str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(resolved)
    for attribute in ("pipeline_config", "catalog", "label_map", "real_data_dir", "class_init"):
        setattr(study, attribute, _resolve(getattr(study, attribute), base))
    for row in rows:
        for attribute in ("catalog", "pipeline_config", "class_mapping"):
            setattr(row, attribute, _resolve(getattr(row, attribute), base))
    for attribute in ("pipeline_config", "catalog", "label_map"):
        if not pathlib.Path(getattr(study, attribute)).exists():
            raise StudyError(f"{path}: field {attribute!r}: {getattr(study, attribute)} does not exist")
    return study


def slug(text: str) -> str:
    """A folder name for a row."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()[:60] or "row"


class _AttemptClock:
    """The seconds a step has run over all its attempts, kept in a file beside its done marker while it runs.

    A killed or interrupted step resumes in a later attempt; without this its recorded wall time would count the last
    attempt only. A thread rewrites the file every `interval` seconds, so at most that much is lost to a hard kill.
    """

    def __init__(self, done_marker: pathlib.Path, interval: float = 30.0):
        self.path = done_marker.with_name(done_marker.name + ".seconds")
        self.interval = interval
        self.earlier = self._read()
        self.start = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _read(self) -> float:
        try:
            return float(json.loads(self.path.read_text())["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0.0

    def total(self) -> float:
        return self.earlier + time.time() - self.start

    def save(self) -> None:
        write_atomically(self.path, json.dumps({"seconds": self.total()}) + "\n")

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            self.save()

    def __enter__(self) -> "_AttemptClock":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        self.save()


def row_label(row: RowSpec) -> str:
    """A row's short label: its name up to the first ':' ("b1" for "b1: no COCO checkpoint")."""
    return row.name.split(":", 1)[0].strip()


def select_rows(study: Study, selectors: Optional[list[str]]) -> list[RowSpec]:
    """The study's rows named by selectors (a row's label or whole name), in study order; every row when None."""
    if not selectors:
        return list(study.rows)
    chosen: set[int] = set()
    for selector in selectors:
        matches = [row for row in study.rows if selector in (row_label(row), row.name)]
        if len(matches) != 1:
            raise StudyError(f"{study.source or study.title}: --rows {selector!r} names "
                             f"{'no row' if not matches else f'{len(matches)} rows'}; its rows are "
                             f"{[row_label(row) for row in study.rows]}")
        chosen.add(id(matches[0]))
    return [row for row in study.rows if id(row) in chosen]


def run_step(name: str, done_marker: pathlib.Path, command: list[str], clock_interval: float = 30.0) -> float:
    """Runs one step's command unless its done marker exists; returns its wall time in seconds, summed over every
    attempt when an earlier one was interrupted (for a step done earlier, the time its marker recorded, so a resumed
    study still reports every step's time)."""
    if done_marker.exists():
        logging.info("[%s] complete, skipped (%s exists)", name, done_marker)
        try:
            return float(json.loads(done_marker.read_text()).get("seconds", 0.0))
        except (ValueError, AttributeError):  # a marker from an older version: plain text
            return 0.0
    logging.info("[%s] %s", name, " ".join(command))
    with _AttemptClock(done_marker, clock_interval) as clock:
        completed = subprocess.run(command, cwd=REPO_ROOT)
    if completed.returncode != 0:
        raise SystemExit(f"step '{name}' failed (exit {completed.returncode}): {' '.join(command)}")
    elapsed = clock.total()
    write_atomically(done_marker, json.dumps({"command": command, "seconds": elapsed}) + "\n")
    clock.path.unlink(missing_ok=True)
    return elapsed


def python_module(module: str, *args: str) -> list[str]:
    """The command that runs `python -m module args` with this interpreter."""
    return [sys.executable, "-m", module, *args]


class StudyRunner:
    """Runs a study's rows in output_dir, sharing pretrained weights, real records and renders between rows."""

    def __init__(self, study: Study, output_dir: pathlib.Path):
        self.study = study
        self.out = pathlib.Path(output_dir).resolve()
        self.timings: dict[str, float] = {}

    # Shared inputs -------------------------------------------------------------------------------------------
    @property
    def pretrained_dir(self) -> pathlib.Path:
        return self.out / "pretrained" / PRETRAINED_NAME

    @property
    def initialised_dir(self) -> pathlib.Path:
        return self.out / "pretrained" / f"{PRETRAINED_NAME}_class_init"

    def fetch_pretrained(self) -> None:
        self.timings["pretrained"] = run_step(
            "pretrained", self.out / "pretrained" / ".done",
            python_module("tfsynth.pretrained", "--fetch", PRETRAINED_NAME, "--output_dir", str(self.out / "pretrained")))
        if self.study.class_init:
            self.timings["class_init"] = run_step(
                "class_init", self.initialised_dir / ".done",
                python_module("tfsynth.pretrained.class_head", "--source", str(self.pretrained_dir),
                              "--label_map", self.study.label_map, "--init_from", self.study.class_init,
                              "--output_dir", str(self.initialised_dir)))

    @property
    def real_records(self) -> str:
        return str(self.out / "real" / "real-*.tfrecord")

    def convert_real(self) -> None:
        real_dir = pathlib.Path(self.study.real_data_dir)
        if not real_dir.is_dir():
            raise StudyError(f"real_data_dir {real_dir} does not exist (expected the CNTK tsv layout of "
                             "shared/data/real/cntk_fridge_us)")
        self.timings["convert_real"] = run_step(
            "convert_real", self.out / "real" / ".done",
            python_module("tfsynth.convert", "--input_format", "cntk", "--input_path", str(real_dir),
                          "--output_dir", str(self.out / "real"), "--name", "real",
                          "--label_map", self.study.label_map))

    def render(self, row: RowSpec) -> pathlib.Path:
        """The row's synthetic dataset (train-* and val-* records), rendered once per distinct setting."""
        args = ["--catalog", row.catalog or self.study.catalog, "--label_map", self.study.label_map,
                "--num_images", str(row.num_images or self.study.num_images),
                "--validation_images", str(self.study.validation_images), "--seed", str(self.study.seed),
                "--preset", self.study.preset]
        for flag, value in (("--cues", row.cues), ("--products_per_image", row.products_per_image),
                            ("--distractors", row.distractors), ("--width", self.study.width),
                            ("--height", self.study.height)):
            if value is not None:
                args += [flag, str(value)]
        key = hashlib.sha256(json.dumps(args).encode()).hexdigest()[:12]
        dataset_dir = self.out / "datasets" / key
        workers = ["--num_workers", str(self.study.num_workers)] if self.study.num_workers else []
        self.timings[f"render {key}"] = run_step(
            f"render {row.name}", dataset_dir / ".done",
            python_module("tfsynth.generate", "--output_dir", str(dataset_dir), *args, *workers))
        return dataset_dir

    # Rows ----------------------------------------------------------------------------------------------------
    def pipeline_config_for(self, row: RowSpec, dataset_dir: pathlib.Path, row_dir: pathlib.Path) -> str:
        """Writes the row's pipeline.config (the template with the row's paths and changes); returns its path."""
        from tfsynth.utils import config_util
        template = row.pipeline_config or self.study.pipeline_config
        configs = config_util.get_configs_from_pipeline_file(template)
        steps = row.num_train_steps or self.study.num_train_steps
        configs = config_util.merge_external_params_with_configs(configs, kwargs_dict={
            **self.study.overrides, **(row.overrides or {}),
            "train_input_path": str(dataset_dir / "train-*.tfrecord"),
            "eval_input_path": str(dataset_dir / "val-*.tfrecord"),
            "label_map_path": self.study.label_map, "train_steps": steps})
        train_config = configs["train_config"]
        if row.fine_tune and self.study.class_init:
            train_config.fine_tune_checkpoint = str(self.initialised_dir / "checkpoint" / "ckpt-0")
            train_config.fine_tune_checkpoint_type = "full"
        elif row.fine_tune:
            train_config.fine_tune_checkpoint = str(self.pretrained_dir / "checkpoint" / "ckpt-0")
        else:
            # Without COCO weights there is nothing to keep: frozen layers would stay random.
            train_config.ClearField("fine_tune_checkpoint")
            del train_config.freeze_variables[:]
        # A schedule that ends before the last step would train the tail at the warm-up or final rate.
        optimizer = getattr(train_config.optimizer, train_config.optimizer.WhichOneof("optimizer"))
        rate = optimizer.learning_rate
        if rate.WhichOneof("learning_rate") == "cosine_decay_learning_rate":
            rate.cosine_decay_learning_rate.total_steps = steps
            rate.cosine_decay_learning_rate.warmup_steps = min(rate.cosine_decay_learning_rate.warmup_steps,
                                                               steps // 5)
        if row.freeze_variables is not None:
            del train_config.freeze_variables[:]
            train_config.freeze_variables.extend(row.freeze_variables)
        if row.update_trainable_variables is not None:
            del train_config.update_trainable_variables[:]
            train_config.update_trainable_variables.extend(row.update_trainable_variables)
        row_dir.mkdir(parents=True, exist_ok=True)
        path = config_util.save_pipeline_config(config_util.create_pipeline_proto_from_configs(configs),
                                                str(row_dir))
        return str(path)

    def train(self, row: RowSpec, pipeline_config: str, model_dir: pathlib.Path) -> tuple[str, list[str]]:
        """Trains the row; returns the checkpoint to evaluate and the command."""
        command = python_module("tfsynth.model_main_tf2", f"--pipeline_config_path={pipeline_config}",
                                f"--model_dir={model_dir}", "--alsologtostderr")
        if row.early_stopping:
            stopping = row.early_stopping
            command += [f"--eval_every_n_steps={int(stopping.get('every_n_steps', 200))}",
                        f"--early_stopping_metric={stopping.get('metric', 'PascalBoxes_Precision/mAP@0.5IOU')}",
                        f"--early_stopping_patience={int(stopping.get('patience', 3))}"]
        self.timings[f"train {row.name}"] = run_step(f"train {row.name}", model_dir / ".done", command)
        best = model_dir / "best"
        return (str(best) if row.early_stopping and best.is_dir() else str(model_dir)), command

    def run_row(self, row: RowSpec):
        """Renders, trains and scores one row; returns a report.Row."""
        from tfsynth.eval.checkpoint_eval import evaluate_checkpoint
        from tfsynth.report import Row
        row_dir = self.out / "rows" / slug(row.name)
        start = time.time()
        if row.kind == "coco_mapped":
            mapping = coco_class_mapping(row.class_mapping, str(self.pretrained_dir / "label_map.pbtxt"),
                                         self.study.label_map)
            evaluation = evaluate_checkpoint(str(self.pretrained_dir / "pipeline.config"),
                                             str(self.pretrained_dir / "checkpoint"), self.real_records,
                                             self.study.label_map, class_mapping=mapping)
            return Row(row.name, evaluation, None, command="(no training)",
                       details={"seconds": time.time() - start, "class_mapping": row.class_mapping})
        dataset_dir = self.render(row)
        pipeline_config = self.pipeline_config_for(row, dataset_dir, row_dir)
        model_dir = row_dir / "model"
        checkpoint, command = self.train(row, pipeline_config, model_dir)
        evaluate_start = time.time()
        evaluation = evaluate_checkpoint(pipeline_config, checkpoint, self.real_records, self.study.label_map)
        # The row's own wall time: its render (shared renders counted for each row that uses them) and training,
        # as recorded when they ran, plus this evaluation; what the row costs when run alone.
        seconds = (self.timings[f"render {dataset_dir.name}"] + self.timings[f"train {row.name}"]
                   + time.time() - evaluate_start)
        details = {"seconds": seconds, "pipeline_config": pipeline_config, "checkpoint": checkpoint,
                   "num_images": row.num_images or self.study.num_images,
                   "num_train_steps": row.num_train_steps or self.study.num_train_steps,
                   "cues": row.cues or "all", "fine_tune": row.fine_tune}
        return Row(row.name, evaluation, str(model_dir), command=" ".join(command), details=details)

    def run(self, report_dir: Optional[pathlib.Path] = None, selectors: Optional[list[str]] = None) -> pathlib.Path:
        """Runs the study's rows (those named by selectors, else all) and writes the report; returns report.md.

        A subset gets its own report folder (report_<labels>), so it never overwrites the whole study's report.
        """
        from tfsynth.report import write_report
        chosen = select_rows(self.study, selectors)
        self.out.mkdir(parents=True, exist_ok=True)
        if any(row.fine_tune or row.kind == "coco_mapped" for row in chosen):
            self.fetch_pretrained()
        self.convert_real()
        rows = [self.run_row(row) for row in chosen]
        notes = list(self.study.notes) + [
            f"Evaluated on every real photo of {self.study.real_data_dir} (never used for training or stopping).",
            f"Renders per row: {self.study.num_images} unless the row says otherwise, preset {self.study.preset}, "
            f"seed {self.study.seed}; training steps: {self.study.num_train_steps} unless the row says otherwise.",
            "Step wall times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in self.timings.items() if v)]
        if self.study.source:
            command = ["python", "-m", "tfsynth.experiments", self.study.source, "--output_dir", str(self.out)]
            if selectors:
                command += ["--rows", ",".join(row_label(row) for row in chosen)]
            notes.append(f"Reproduce these rows (resumes where it stopped): `{shlex.join(command)}`; one row alone: "
                         "add `--rows LABEL` (a row's name up to its ':').")
        if report_dir is None:
            report_dir = self.out / ("report_" + "_".join(slug(row_label(row)) for row in chosen) if selectors
                                     else "report")
        settings = {key: value for key, value in dataclasses.asdict(self.study).items() if key != "rows"}
        return write_report(rows, report_dir, self.study.title, notes, settings)


def coco_class_mapping(mapping_path: str, coco_label_map: str, target_label_map: str) -> dict[int, list[int]]:
    """Reads a YAML {COCO display name: [our class names]} into {COCO id: [our ids]}; names are checked."""
    from tfsynth.utils import label_map_util
    data = yaml.safe_load(pathlib.Path(mapping_path).read_text()) or {}
    coco = {c["name"]: c["id"] for c in label_map_util.create_categories_from_labelmap(coco_label_map)}
    ours = label_map_util.get_label_map_dict(target_label_map)
    mapping: dict[int, list[int]] = {}
    for coco_name, targets in data.items():
        if coco_name not in coco:
            raise StudyError(f"{mapping_path}: {coco_name!r} is not a class of {coco_label_map}")
        for target in targets or []:
            if target not in ours:
                raise StudyError(f"{mapping_path}: {coco_name!r} -> {target!r}: not a class of {target_label_map}")
        mapping[coco[coco_name]] = [ours[t] for t in targets or []]
    return mapping


FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise app.UsageError("usage: python -m tfsynth.experiments STUDY.yaml --output_dir DIR")
    study = load_study(argv[1])
    report = StudyRunner(study, pathlib.Path(FLAGS.output_dir)).run(selectors=FLAGS.rows)
    print(f"experiments: report written to {report}")


if __name__ == "__main__":
    flags.DEFINE_string("output_dir", "runs/study", "Where the study's renders, models and report go.")
    flags.DEFINE_list("rows", None, "Run only these rows, by label (a row's name up to its ':') or whole name; "
                      "their report goes to OUTPUT_DIR/report_<labels>.")
    app.run(main)
