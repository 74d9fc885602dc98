"""StudyRunner: runs a study's rows in an output folder (real photos converted, pretrained weights fetched, renders,
training, scoring on the real photos) and writes its report; every step a resumable command (tfsynth.studies.steps).

This process drives the steps as subprocesses (renders, training, conversion, downloads) and loads TensorFlow only
to score a row on the real photos (the imports of run_row and run are lazy for that): checking a study, converting
its photos, fetching the weights and the first renders run without it, and Mesa's llvmpipe and TensorFlow crash or
hang when they share a process.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import shlex
import time
from typing import Optional

from absl import logging

from tfsynth.studies.catalogs import derived_catalog
from tfsynth.studies.checks import check_real_records, check_study, coco_class_mapping, label_map_classes
from tfsynth.studies.scaling import describe_scale
from tfsynth.studies.spec import (RowSpec, Study, needs_backbone, real_data_format, read_image_list, restore_of,
                                  row_label, run_name, select_rows, slug, stage_image_list)
from tfsynth.studies.steps import python_module, run_step
from tfsynth.utils import config_io, config_overrides

PRETRAINED_NAME = "ssdlite_mobilenet_v2_coco"
# The COCO SSDLite's MobileNetV2 alone, as a classification checkpoint: what a row of fine_tune_checkpoint_type
# classification restores when it names no checkpoint of its own (tfsynth.pretrained.backbone).
BACKBONE_NAME = "ssdlite_mobilenet_v2_coco_backbone"


class StudyRunner:
    """Runs a study's rows in output_dir, sharing pretrained weights, real records and renders between rows."""

    def __init__(self, study: Study, output_dir: pathlib.Path):
        self.study = study
        self.out = pathlib.Path(output_dir).resolve()
        self.timings: dict[str, float] = {}
        self.warnings: list[str] = []
        self._checked: Optional[tuple[str, ...]] = None
        self._real_format: Optional[str] = None

    def check(self, selectors: Optional[list[str]] = None) -> list[str]:
        """check_study on the chosen rows (once per choice); logs and returns its warnings."""
        chosen = select_rows(self.study, selectors)
        names = tuple(row.name for row in chosen)
        if self._checked != names:
            self.warnings = check_study(self.study, chosen)
            for warning in self.warnings:
                logging.warning("%s", warning)
            real, field = self.study.real_photos()
            self._real_format = real_data_format(real, f"field {field!r}")
            self._checked = names
        return self.warnings

    # Shared inputs -------------------------------------------------------------------------------------------
    @property
    def pretrained_dir(self) -> pathlib.Path:
        return self.out / "pretrained" / PRETRAINED_NAME

    @property
    def initialised_dir(self) -> pathlib.Path:
        return self.out / "pretrained" / f"{PRETRAINED_NAME}_class_init"

    @property
    def backbone_dir(self) -> pathlib.Path:
        return self.out / "pretrained" / BACKBONE_NAME

    def fetch_backbone(self) -> None:
        """The COCO SSDLite's backbone as a classification checkpoint (after fetch_pretrained)."""
        self.timings["backbone"] = run_step(
            "backbone", self.backbone_dir / ".done",
            python_module("tfsynth.pretrained", "--fetch", BACKBONE_NAME, "--output_dir", str(self.out / "pretrained")))

    def fetch_pretrained(self) -> None:
        self.timings["pretrained"] = run_step(
            "pretrained", self.out / "pretrained" / ".done",
            python_module("tfsynth.pretrained", "--fetch", PRETRAINED_NAME, "--output_dir", str(self.out / "pretrained")))
        if self.study.class_init:
            self.timings["class_init"] = run_step(
                "class_init", self.initialised_dir / ".done",
                python_module("tfsynth.pretrained.class_head", "--source", str(self.pretrained_dir),
                              "--label_map", self.study.label_map, "--init_from", self.study.class_init,
                              "--output_dir", str(self.initialised_dir)),
                inputs=(self.study.label_map, self.study.class_init))

    @property
    def real_dir(self) -> pathlib.Path:
        """Where the real photos' records are converted: one folder per source (its form, path and options, and a
        file list's contents), so a study pointed at other photos never scores the records of earlier ones."""
        real, field = self.study.real_photos()
        data_format = self._real_format or real_data_format(real, f"field {field!r}")
        identity = [data_format, real.path, real.image_dir, real.split, self.study.label_map]
        if data_format == "list":
            identity.append(hashlib.sha256(pathlib.Path(real.path).read_bytes()).hexdigest())
        return self.out / "real" / f"{data_format}_{hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:12]}"

    @property
    def real_records(self) -> str:
        real, field = self.study.real_photos()
        if (self._real_format or real_data_format(real, f"field {field!r}")) == "records":
            return real.path
        return str(self.real_dir / "real-*.tfrecord")

    def convert_real(self) -> None:
        """The real photos as records with the study's label map's ids: converted by tfsynth.convert, or, when
        they are records already, checked against the label map."""
        real, field = self.study.real_photos()
        where = f"field {field!r}"
        data_format = real_data_format(real, where)
        if data_format == "records":
            check_real_records(real.path, self.study.label_map, where)
            return
        real_dir = self.real_dir
        input_path = real.path
        staged = data_format == "list"
        if staged and not (real_dir / ".done").exists():
            data_format, input_path = stage_image_list(real.path, real_dir / "photos", where)
        elif staged:
            data_format, input_path = read_image_list(real.path, where)[0], str(real_dir / "photos")
        options = [*(["--image_dir", real.image_dir] if real.image_dir else []),
                   *(["--split", real.split] if real.split else []),
                   # A staged list is links to the listed images wherever they lie: the user named each one.
                   *(["--allow_images_outside_root"] if staged else [])]
        self.timings["convert_real"] = run_step(
            "convert_real", real_dir / ".done",
            python_module("tfsynth.convert", "--input_format", data_format, "--input_path", input_path, *options,
                          "--output_dir", str(real_dir), "--name", "real", "--label_map", self.study.label_map),
            inputs=(self.study.label_map,))

    def catalog_for(self, row: RowSpec) -> str:
        """The catalog the row renders: its own or the study's, cut to looks_per_class / distractor_kinds."""
        catalog = row.catalog or self.study.catalog
        if row.looks_per_class is None and row.distractor_kinds is None:
            return catalog
        return derived_catalog(catalog, row.looks_per_class, row.distractor_kinds, self.out / "catalogs")

    def render(self, row: RowSpec, run: int = 0) -> pathlib.Path:
        """The synthetic dataset (train-* and val-* records) of the row's run (0-based; seed: the study's + run),
        rendered once per distinct setting."""
        distractors = row.distractors
        if distractors is None and row.distractor_kinds == 0:
            distractors = "0"  # no kinds to draw from: none per image
        catalog = self.catalog_for(row)
        args = ["--catalog", catalog, "--label_map", self.study.label_map,
                "--num_images", str(row.num_images or self.study.num_images),
                "--validation_images", str(self.study.validation_images), "--seed", str(self.study.seed + run),
                "--preset", self.study.preset]
        for flag, value in (("--cues", row.cues), ("--products_per_image", row.products_per_image),
                            ("--distractors", distractors), ("--width", self.study.width),
                            ("--height", self.study.height)):
            if value is not None:
                args += [flag, str(value)]
        # The files' contents are part of the key: a catalog or label map edited in place renders anew.
        identity = hashlib.sha256(json.dumps(args).encode())
        for path in (catalog, self.study.label_map):
            identity.update(b"\0" + pathlib.Path(path).read_bytes())
        key = identity.hexdigest()[:12]
        dataset_dir = self.out / "datasets" / key
        workers = ["--num_workers", str(self.study.num_workers)] if self.study.num_workers else []
        # The folder's key holds the files' contents, so the step's command (which names the folder) covers them.
        self.timings[f"render {key}"] = run_step(
            f"render {run_name(row, run)}", dataset_dir / ".done",
            python_module("tfsynth.generate", "--output_dir", str(dataset_dir), *args, *workers))
        return dataset_dir

    # Rows ----------------------------------------------------------------------------------------------------
    def pipeline_config_for(self, row: RowSpec, dataset_dir: pathlib.Path, row_dir: pathlib.Path) -> str:
        """Writes the row's pipeline.config (the template with the row's paths and changes); returns its path."""
        template = row.pipeline_config or self.study.pipeline_config
        configs = config_io.get_configs_from_pipeline_file(template)
        steps = row.num_train_steps or self.study.num_train_steps
        # num_classes follows the label map, whatever the template says (its 8 would fail training only after
        # the renders, with a message about the label map).
        configs = config_overrides.merge_external_params_with_configs(configs, kwargs_dict={
            **self.study.overrides, **(row.overrides or {}),
            "train_input_path": str(dataset_dir / "train-*.tfrecord"),
            "eval_input_path": str(dataset_dir / "val-*.tfrecord"),
            "label_map_path": self.study.label_map, "train_steps": steps,
            "num_classes": len(label_map_classes(self.study.label_map))})
        train_config = configs["train_config"]
        restore = restore_of(row, self.study)
        if row.fine_tune and row.fine_tune_checkpoint:
            train_config.fine_tune_checkpoint = row.fine_tune_checkpoint
            train_config.fine_tune_checkpoint_type = restore
        elif row.fine_tune and restore == "classification":
            # The backbone alone; SSD's extra layers (or FPN) and the box predictor start from scratch.
            train_config.fine_tune_checkpoint = str(self.backbone_dir / "checkpoint" / "ckpt-0")
            train_config.fine_tune_checkpoint_type = "classification"
        elif row.fine_tune and restore == "full":
            train_config.fine_tune_checkpoint = str(self.initialised_dir / "checkpoint" / "ckpt-0")
            train_config.fine_tune_checkpoint_type = "full"
        elif row.fine_tune:
            train_config.fine_tune_checkpoint = str(self.pretrained_dir / "checkpoint" / "ckpt-0")
            train_config.fine_tune_checkpoint_type = "detection"
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
        path = config_io.save_pipeline_config(config_io.create_pipeline_proto_from_configs(configs),
                                              str(row_dir))
        return str(path)

    def train(self, row: RowSpec, pipeline_config: str, model_dir: pathlib.Path,
              name: Optional[str] = None) -> tuple[str, list[str]]:
        """Trains the row (its run `name`, default the row's); returns the checkpoint to evaluate and the command."""
        name = name or row.name
        command = python_module("tfsynth.model_main_tf2", f"--pipeline_config_path={pipeline_config}",
                                f"--model_dir={model_dir}", "--alsologtostderr")
        if row.early_stopping:
            stopping = row.early_stopping
            command += [f"--eval_every_n_steps={int(stopping.get('every_n_steps', 200))}",
                        f"--early_stopping_metric={stopping.get('metric', 'PascalBoxes_Precision/mAP@0.5IOU')}",
                        f"--early_stopping_patience={int(stopping.get('patience', 3))}"]
        self.timings[f"train {name}"] = run_step(f"train {name}", model_dir / ".done", command,
                                                 inputs=(pipeline_config,))
        best = model_dir / "best"
        return (str(best) if row.early_stopping and best.is_dir() else str(model_dir)), command

    @staticmethod
    def stopping_details(row: RowSpec, model_dir: pathlib.Path, max_steps: int) -> dict:
        """For an early-stopping row: the step training stopped at, the best step and its validation score."""
        import tensorflow as tf  # this process loads TensorFlow only when scoring rows (see the module docstring)
        if not row.early_stopping:
            return {}
        metric = row.early_stopping.get("metric", "PascalBoxes_Precision/mAP@0.5IOU")
        latest = tf.train.latest_checkpoint(str(model_dir))
        stopped = int(latest.rsplit("-", 1)[1]) if latest else None
        details = {"early_stopping": dict(row.early_stopping), "max_steps": max_steps, "stopped_at_step": stopped,
                   "stopped_early": stopped is not None and stopped < max_steps, "validation_metric": metric}
        record = model_dir / "best" / "best_metrics.json"
        if record.exists():
            best = json.loads(record.read_text())
            details.update(best_step=best.get("step"), best_validation=best.get(metric))
        return details

    def run_row(self, row: RowSpec, run: int = 0):
        """Renders, trains and scores one row's run (0-based; see Study.repeats); returns a report.Row."""
        # Lazy: both load TensorFlow, which this process needs only from here on (see the module docstring).
        from tfsynth.eval.checkpoint_eval import evaluate_checkpoint
        from tfsynth.studies.report import Row
        row_dir = self.out / "rows" / slug(row.name)
        start = time.time()
        if row.kind == "coco_mapped":
            mapping = coco_class_mapping(row.class_mapping, str(self.pretrained_dir / "label_map.pbtxt"),
                                         self.study.label_map)
            evaluation = evaluate_checkpoint(str(self.pretrained_dir / "pipeline.config"),
                                             str(self.pretrained_dir / "checkpoint"), self.real_records,
                                             self.study.label_map, class_mapping=mapping)
            return Row(row.name, evaluation, None, command="(no training)",
                       details={"seconds": time.time() - start, "class_mapping": row.class_mapping, "x": row.x})
        name = run_name(row, run)
        if run:
            row_dir = row_dir.with_name(f"{row_dir.name}_run{run + 1}")
        dataset_dir = self.render(row, run)
        pipeline_config = self.pipeline_config_for(row, dataset_dir, row_dir)
        model_dir = row_dir / "model"
        checkpoint, command = self.train(row, pipeline_config, model_dir, name)
        evaluate_start = time.time()
        evaluation = evaluate_checkpoint(pipeline_config, checkpoint, self.real_records, self.study.label_map)
        # The row's own wall time: its render (shared renders counted for each row that uses them) and training,
        # as recorded when they ran, plus this evaluation; what the row costs when run alone.
        seconds = (self.timings[f"render {dataset_dir.name}"] + self.timings[f"train {name}"]
                   + time.time() - evaluate_start)
        steps = row.num_train_steps or self.study.num_train_steps
        details = {"seconds": seconds, "pipeline_config": pipeline_config, "checkpoint": checkpoint,
                   "num_images": row.num_images or self.study.num_images, "num_train_steps": steps,
                   "cues": row.cues or "all", "fine_tune": row.fine_tune,
                   "restore": restore_of(row, self.study) if row.fine_tune else "none", "x": row.x,
                   **{field: getattr(row, field) for field in ("looks_per_class", "distractor_kinds")
                      if getattr(row, field) is not None},
                   **self.stopping_details(row, model_dir, steps)}
        if self.study.repeats > 1:
            details.update(repeat_of=row_label(row), run=run + 1, render_seed=self.study.seed + run)
        return Row(name, evaluation, str(model_dir), command=" ".join(command), details=details)

    def run(self, report_dir: Optional[pathlib.Path] = None, selectors: Optional[list[str]] = None) -> pathlib.Path:
        """Runs the study's rows (those named by selectors, else all) and writes the report; returns report.md.

        A subset gets its own report folder (report_<labels>), so it never overwrites the whole study's report.
        """
        # Lazy: the report loads TensorFlow (checkpoint_eval; the loss curves' event files); see run_row.
        from tfsynth.studies.report import write_report
        chosen = select_rows(self.study, selectors)
        warnings = self.check(selectors)  # the files agree: before any download, conversion or render
        self.out.mkdir(parents=True, exist_ok=True)
        self.convert_real()  # seconds, and it finds real photos of classes the label map lacks: before the fetch
        if any((row.fine_tune and not row.fine_tune_checkpoint) or row.kind == "coco_mapped" for row in chosen):
            self.fetch_pretrained()
        if any(needs_backbone(row, self.study) for row in chosen):
            self.fetch_backbone()
        rows = [self.run_row(row, run) for row in chosen
                for run in range(self.study.repeats if row.kind == "train" else 1)]
        real, _ = self.study.real_photos()
        notes = list(self.study.notes) + [
            f"Evaluated on every real photo of {real.path} (as {self._real_format}; never used for training or "
            "stopping).",
            f"Renders per row: {self.study.num_images} unless the row says otherwise, preset {self.study.preset}, "
            f"seed {self.study.seed}; training steps: {self.study.num_train_steps} unless the row says otherwise.",
            *([f"Repeats: every trained row ran {self.study.repeats} times, run K on its own renders (seed "
               f"{self.study.seed} + K - 1); the table of repeats gives each row's mean and spread."]
              if self.study.repeats > 1 else []),
            describe_scale(self.study),
            "Step wall times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in self.timings.items() if v)]
        notes += [f"Warning: {warning}" for warning in warnings]
        if self.study.source:
            command = ["python", "-m", "tfsynth.experiments", self.study.source, "--output_dir", str(self.out)]
            if self.study.scale != 1:
                command += ["--scale", f"{self.study.scale:g}"]
            if selectors:
                command += ["--rows", ",".join(row_label(row) for row in chosen)]
            notes.append(f"Reproduce these rows (resumes where it stopped): `{shlex.join(command)}`; one row alone: "
                         "add `--rows LABEL` (a row's name up to its ':').")
        if report_dir is None:
            report_dir = self.out / ("report_" + "_".join(slug(row_label(row)) for row in chosen) if selectors
                                     else "report")
        settings = {key: value for key, value in dataclasses.asdict(self.study).items() if key != "rows"}
        return write_report(rows, report_dir, self.study.title, notes, settings, x_label=self.study.x_label,
                            ratios=self.study.ratios)
