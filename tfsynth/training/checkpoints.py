"""Checkpoints of a training run: fine-tune restore, resume from model_dir, and the best checkpoint (model_dir/best).

Layout is the OD API's (and the TF2 Detection Zoo's): tf.train.Checkpoint objects written by a CheckpointManager
as ckpt-N.index / ckpt-N.data-*, with a `checkpoint` state file, so either side can read the other's files.

restore_fine_tune_checkpoint is the one fine-tune restorer (train_loop runs it; the tests call it directly): a
checkpoint that does not fit raises CheckpointMismatchError listing every missing variable and every shape
mismatch, instead of TF's first error only.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from typing import Any, Optional

import numpy as np
import tensorflow as tf

from tfsynth.utils.checkpoint_fit import (  # noqa: F401  (re-exported: the fit checks live in utils)
    _VALUE_SUFFIX, CheckpointMismatchError, CheckpointReadError, check_checkpoint_fits, expected_checkpoint_keys,
    misfit_hint, read_checkpoint_shapes, restore_checked, unreadable_values)
from tfsynth.utils.checkpoint_fit import COPY_AGAIN, data_file_sizes, first_line
from tfsynth.utils.files import write_atomically

BEST_DIR = "best"


class NonFiniteCheckpointError(RuntimeError):
    """Variables of a checkpoint hold NaN or infinite values; `names` lists them (as `name (count NaN, ...)`)."""

    def __init__(self, message: str, names: list[str]):
        super().__init__(message)
        self.names = names


def non_finite_variables(root: Any) -> list[str]:
    """The floating-point variables reachable from `root` (a tf.train.Checkpoint, model, ...) that hold NaN or
    infinite values, each as 'name (n NaN, m inf of size)'; empty when all are finite."""
    found, seen = [], set()
    for node in tf.train.TrackableView(root).descendants():
        if not isinstance(node, tf.Variable) or id(node) in seen or not node.dtype.is_floating:
            continue
        seen.add(id(node))
        values = np.asarray(node.numpy())
        if np.isfinite(values).all():
            continue
        name = node.name[:-2] if node.name.endswith(":0") else node.name
        found.append(f"{name} ({int(np.isnan(values).sum())} NaN, {int(np.isinf(values).sum())} inf of "
                     f"{values.size})")
    return found


def resolve_checkpoint_path(path: str, what: str = "checkpoint") -> str:
    """A checkpoint prefix (…/ckpt-0) from a prefix or a folder holding a `checkpoint` state file.

    Raises FileNotFoundError naming `what` and the path when there is none.
    """
    if tf.io.gfile.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            present = sorted(name[:-len(".index")] for name in tf.io.gfile.listdir(path) if name.endswith(".index"))
            state = tf.train.get_checkpoint_state(path) if tf.io.gfile.exists(os.path.join(path, "checkpoint")) \
                else None
            if state is not None and present:
                raise FileNotFoundError(
                    f"{what}: {os.path.join(path, 'checkpoint')} names {state.model_checkpoint_path}, which is not "
                    f"there; the folder holds {', '.join(present)}: pass one as a prefix ({path}/{present[-1]}) or "
                    "name it in that file")
            raise FileNotFoundError(f"{what}: no checkpoint in folder {path} (expected a `checkpoint` file and "
                                    f"ckpt-N.index / ckpt-N.data-* files)")
        path = latest
    elif not tf.io.gfile.exists(path + ".index"):
        raise FileNotFoundError(f"{what}: {path}.index does not exist; expected a TF2 checkpoint prefix such as "
                                f"…/checkpoint/ckpt-0 or a folder holding one")
    _check_data_files(path, what)
    return path


def _check_data_files(prefix: str, what: str) -> None:
    """Raises FileNotFoundError when a data shard of the checkpoint at prefix is missing (TensorFlow's reader
    would fail with an unclassified error, or only when the first variable is read)."""
    shards = tf.io.gfile.glob(prefix + ".data-*-of-*")
    counts = sorted({name.rsplit("-of-", 1)[1] for name in shards})
    if not shards:
        problem = f"no {prefix}.data-00000-of-0000N file beside its .index"
    elif len(counts) > 1:
        problem = f"its data files come from checkpoints of {len(counts)} shard counts ({', '.join(counts)})"
    else:
        missing = [name for index in range(int(counts[0]))
                   if (name := f"{prefix}.data-{index:05d}-of-{counts[0]}") not in shards]
        problem = f"{missing[0]} is missing" if missing else ""
    if problem:
        raise FileNotFoundError(f"{what}: checkpoint {prefix} is incomplete: {problem} (copy every ckpt-N.index "
                                "and ckpt-N.data-* file of the checkpoint)")


def checkpoint_step(prefix: str) -> Optional[int]:
    """The training step a checkpoint holds: its `step` variable (both trainers save the global step under that
    name), else the number in its file name, else None. The file number alone is not the step: the OD API's
    trainer numbers checkpoints by how many it has saved (its ckpt-2 may hold step 200), tfsynth's by step."""
    try:
        return int(tf.train.load_checkpoint(prefix).get_tensor("step" + _VALUE_SUFFIX))
    except (tf.errors.NotFoundError, ValueError):  # no such variable (e.g. a Zoo checkpoint)
        number = prefix.rsplit("-", 1)[-1]
        return int(number) if number.isdigit() else None


def _sample(names: list, count: int = 8) -> str:
    if len(names) <= count:
        return ", ".join(names)
    return ", ".join(names[:count]) + f", … ({len(names)} in all)"


def restore_fine_tune_checkpoint(model: Any, checkpoint_path: str, checkpoint_type: str = "detection") -> None:
    """Restores the parts of `model` that model.restore_from_objects(checkpoint_type) names (the OD API's
    load_fine_tune_checkpoint). The model's variables must exist (run it once first).

    Restores with expect_partial (optimizer slots and unrelated objects of the checkpoint are skipped), then
    requires every variable of the restored objects to have found its value. When they did not,
    CheckpointMismatchError (a ValueError) lists every missing variable and every shape mismatch, with a few of
    the checkpoint's own keys; ValueError with TF's message when that comparison finds no difference.
    """
    if not model.variables:
        raise ValueError("restore_fine_tune_checkpoint: the model has no variables yet; run one forward pass first")
    if not checkpoint_type:  # model_lib resolves an unset type from from_detection_checkpoint, as the OD API
        raise ValueError("restore_fine_tune_checkpoint: no fine_tune_checkpoint_type given (expected detection, "
                         "classification or full)")
    prefix = resolve_checkpoint_path(checkpoint_path, "train_config.fine_tune_checkpoint")
    checkpoint_keys = [name for name in read_checkpoint_shapes(prefix, "train_config.fine_tune_checkpoint")
                       if name != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    objects = model.restore_from_objects(fine_tune_checkpoint_type=checkpoint_type)
    if not isinstance(objects, dict) or not objects:
        raise ValueError(f"model.restore_from_objects({checkpoint_type!r}) returned nothing to restore")
    checkpoint = tf.train.Checkpoint(**objects)
    where = f"fine_tune_checkpoint {prefix} (fine_tune_checkpoint_type {checkpoint_type!r})"
    try:
        status = checkpoint.restore(prefix).expect_partial()
        status.assert_existing_objects_matched()
    except (tf.errors.DataLossError, tf.errors.OutOfRangeError, IndexError) as error:
        raise CheckpointReadError(
            f"{where}: reading its values failed ({first_line(error)}); its data files: "
            f"{data_file_sizes(prefix) or 'none'}. A data file cut short or corrupt reads so: {COPY_AGAIN}") from None
    except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as error:
        hint = (f"\nThe checkpoint holds e.g.: {_sample(checkpoint_keys)}.\nCheck fine_tune_checkpoint_type "
                f"(detection, classification, full) and that the checkpoint comes from the same architecture.")
        # TF names the first problem only; the comparison of keys and shapes names them all.
        try:
            check_checkpoint_fits(objects, prefix)
        except CheckpointMismatchError as mismatch:
            raise CheckpointMismatchError(f"{where}: {mismatch}{hint}") from error
        text = str(error)
        if len(text) > 2500:
            text = text[:2500] + " …"
        raise ValueError(f"{where} does not fit the model: {text}{hint}") from error
    logging.info("Restored %s", where)


INPUT_POSITION_DIR = "input_position"


class RunCheckpoints:
    """The checkpoints of one training run in model_dir: save every n steps, resume, keep the best one.

    The input pipeline's position (input_objects, e.g. its iterator: shuffle buffers of serialized records,
    hundreds of MB for photos) is written beside, in model_dir/input_position/ckpt-STEP, for the newest checkpoint
    only: a resume needs it from the checkpoint it starts at, which is the newest, while every kept checkpoint
    holding its own copy multiplied the folder's size (360 MB a checkpoint instead of 25 for the main job)."""

    def __init__(self, model_dir: str, checkpoint: tf.train.Checkpoint, max_to_keep: int = 7,
                 required: Optional[dict] = None, input_objects: Optional[dict] = None):
        """required: the objects a resume must restore in full (e.g. step and model); the rest of `checkpoint`
        (the optimizer) may fail to match, e.g. after a change of precision, and then starts afresh.
        input_objects: the input position's objects (see the class docstring); None: none is saved."""
        self.model_dir = model_dir
        self.checkpoint = checkpoint
        self.required = required
        self.manager = tf.train.CheckpointManager(checkpoint, model_dir, max_to_keep=max_to_keep)
        self.input_checkpoint = tf.train.Checkpoint(**input_objects) if input_objects else None
        self.input_dir = os.path.join(model_dir, INPUT_POSITION_DIR)

    def _input_prefix(self, checkpoint_prefix: str) -> str:
        return os.path.join(self.input_dir, os.path.basename(checkpoint_prefix))

    def _restore_input_position(self, latest: str) -> None:
        """The input position saved with checkpoint `latest`; from inside it for a run written before positions
        moved beside; else the input restarts, with a warning."""
        input_prefix = self._input_prefix(latest)
        if tf.io.gfile.exists(input_prefix + ".index"):
            self.input_checkpoint.read(input_prefix).assert_existing_objects_matched()
            return
        stored = {name for name, _ in tf.train.list_variables(latest)}
        if any(name.startswith("input_iterator/") for name in stored):
            self.input_checkpoint.restore(latest).expect_partial().assert_existing_objects_matched()
            return
        logging.warning("no input position for %s (expected %s): the input restarts, so this run will not end as an "
                        "uninterrupted one would", latest, input_prefix)

    @property
    def latest(self) -> Optional[str]:
        """Prefix of the newest checkpoint in model_dir, or None."""
        return self.manager.latest_checkpoint

    def restore_latest(self) -> Optional[str]:
        """Restores the newest checkpoint (resume); returns its prefix, or None when model_dir holds none.

        Raises NonFiniteCheckpointError when the restored variables are not all finite (resuming would train on
        NaN at once)."""
        latest = self.manager.latest_checkpoint
        if not latest:
            return None
        # A model_dir trained with another config (architecture, num_classes) fails here, naming every variable
        # that differs, before TensorFlow's restore fails on the first.
        stored = read_checkpoint_shapes(latest, "resuming from --model_dir")
        if self.required is not None:
            try:
                check_checkpoint_fits(self.required, latest, stored)
            except CheckpointMismatchError as mismatch:
                raise CheckpointMismatchError(
                    f"resuming from --model_dir: {mismatch}\n{self.model_dir} holds checkpoints of another model: "
                    f"train with the pipeline.config they were made with ({os.path.join(self.model_dir, 'pipeline.config')}"
                    ") or in a new --model_dir") from None
        try:
            status = self.checkpoint.restore(latest)
            status.assert_existing_objects_matched()
        except AssertionError as error:
            if self.required is None:
                raise
            restore_checked(self.required, latest, "resuming from --model_dir")
            status.expect_partial()
            logging.warning("Resumed %s from %s, but the rest (optimizer state) did not match and starts afresh: "
                            "%s", ", ".join(self.required), latest, str(error)[:300])
        except (tf.errors.OpError, IndexError) as error:
            raise unreadable_values(
                "resuming from --model_dir", latest, error,
                remedy=f"remove that checkpoint (and name an earlier one in "
                       f"{os.path.join(self.model_dir, 'checkpoint')}) or start in a new --model_dir") from None
        bad = non_finite_variables(self.checkpoint)
        if bad:
            raise NonFiniteCheckpointError(
                f"{latest} holds non-finite values in {_sample(bad)}; resume from an earlier checkpoint (name it in "
                f"{os.path.join(self.model_dir, 'checkpoint')}) or start in a new model_dir", bad)
        if self.input_checkpoint is not None:
            self._restore_input_position(latest)
        logging.info("Resuming from %s", latest)
        return latest

    def save(self, step: int) -> str:
        """Writes ckpt-STEP (numbered by the global step, as the OD API's trainer), only when every variable is
        finite: a checkpoint is good only then. Raises NonFiniteCheckpointError naming the variables otherwise,
        leaving model_dir as it was."""
        bad = non_finite_variables(self.checkpoint)
        if bad:
            raise NonFiniteCheckpointError(f"ckpt-{step} not written: non-finite values in {_sample(bad)}", bad)
        if self.input_checkpoint is None:
            return self.manager.save(checkpoint_number=step)
        # The position first, the checkpoint after, older positions last: killed anywhere in between, the newest
        # checkpoint still has its position beside it.
        name = f"ckpt-{step}"
        self.input_checkpoint.write(os.path.join(self.input_dir, name))
        prefix = self.manager.save(checkpoint_number=step)
        for file_name in tf.io.gfile.listdir(self.input_dir):
            if not file_name.startswith(name + "."):
                tf.io.gfile.remove(os.path.join(self.input_dir, file_name))
        return prefix


def write_checkpoint_state(folder: str, prefix_name: str) -> None:
    """Writes folder/checkpoint pointing at prefix_name (a file name inside folder)."""
    text = f'model_checkpoint_path: "{prefix_name}"\nall_model_checkpoint_paths: "{prefix_name}"\n'
    write_atomically(os.path.join(folder, "checkpoint"), text)


def copy_checkpoint(prefix: str, destination: str) -> str:
    """Copies the files of checkpoint `prefix` into `destination` (replacing what was there) and writes its
    `checkpoint` state file; returns the new prefix."""
    staging = destination.rstrip("/") + ".tmp"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    base = os.path.basename(prefix)
    for name in tf.io.gfile.listdir(os.path.dirname(prefix) or "."):
        if name == base + ".index" or name.startswith(base + ".data-"):
            tf.io.gfile.copy(os.path.join(os.path.dirname(prefix), name), os.path.join(staging, name))
    write_checkpoint_state(staging, base)
    shutil.rmtree(destination, ignore_errors=True)
    os.replace(staging, destination)
    return os.path.join(destination, base)


class BestCheckpointKeeper:
    """Keeps model_dir/best/ holding the checkpoint with the best value of one evaluation metric, and counts
    evaluations without improvement (early stopping)."""

    def __init__(self, model_dir: str, metric: str, higher_is_better: Optional[bool] = None):
        self.folder = os.path.join(model_dir, BEST_DIR)
        self.metric = metric
        # Losses fall, everything else (mAP, AR) rises.
        self.higher_is_better = (not metric.startswith("Loss/")) if higher_is_better is None else higher_is_better
        self.best_value: Optional[float] = None
        self.evaluations_without_improvement = 0
        record = os.path.join(self.folder, "best_metrics.json")
        if os.path.exists(record):  # resumed run: keep comparing with the earlier best
            with open(record) as stream:
                self.best_value = json.load(stream).get(metric)
        # ... and keep counting toward the patience: a resumed run stops where an uninterrupted one would.
        self._stall_record = os.path.join(model_dir, "early_stopping_state.json")
        if self.best_value is not None and os.path.exists(self._stall_record):
            with open(self._stall_record) as stream:
                state = json.load(stream)
            if state.get("metric") == metric:
                self.evaluations_without_improvement = int(state.get("evaluations_without_improvement", 0))

    def update(self, metrics: dict, checkpoint_prefix: str, step: int) -> bool:
        """Considers one evaluation of checkpoint_prefix; copies it to best/ when it improves. Returns True then.

        Raises KeyError naming the available metrics when the metric is missing.
        """
        if self.metric not in metrics:
            raise KeyError(f"early stopping metric {self.metric!r} is not among the evaluation metrics: "
                           f"{_sample(sorted(metrics), 30)}")
        value = float(metrics[self.metric])
        improved = self.best_value is None or (value > self.best_value if self.higher_is_better
                                               else value < self.best_value)
        if improved:
            self.best_value = value
            self.evaluations_without_improvement = 0
            copy_checkpoint(checkpoint_prefix, self.folder)
            write_atomically(os.path.join(self.folder, "best_metrics.json"),
                             json.dumps(dict(metrics, step=int(step)), indent=2, sort_keys=True))
            logging.info("New best %s = %.5f at step %d -> %s", self.metric, value, step, self.folder)
        else:
            self.evaluations_without_improvement += 1
        write_atomically(self._stall_record, json.dumps(
            {"metric": self.metric, "evaluations_without_improvement": self.evaluations_without_improvement}) + "\n")
        return improved
