"""Whether a checkpoint fits a model, and restoring one so that a misfit or an unreadable file is named.

TensorFlow's restore names the first variable that differs, deep in its own code, and reads a cut-short data file
as an IndexError naming no file. These compare the checkpoint's keys and shapes with the model's first (every
missing or mismatched variable listed) and turn read failures into errors naming the files. Used by training
(fine-tune, resume), evaluation and export alike.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

import tensorflow as tf

_VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_LISTED = 10  # variables named per kind of misfit


class CheckpointMismatchError(ValueError):
    """A checkpoint lacks variables of the model, or holds them with other shapes."""


def expected_checkpoint_keys(objects: Dict[str, object]) -> Dict[str, List[int]]:
    """Object-based checkpoint key -> shape of every variable reachable from tf.train.Checkpoint(**objects)."""
    keys: Dict[str, List[int]] = {}
    seen = set()
    queue: List[Tuple[str, object]] = [(name, obj) for name, obj in objects.items()]
    while queue:  # breadth first, like the checkpoint's own naming of shared variables
        path, obj = queue.pop(0)
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, tf.Variable):
            keys[path + _VALUE_SUFFIX] = obj.shape.as_list()
            continue
        children = obj._trackable_children(save_type="checkpoint")  # pylint: disable=protected-access
        queue.extend((f"{path}/{_escape_key_part(name)}", child) for name, child in children.items())
    return keys


def _escape_key_part(name: str) -> str:
    """A child's name as TensorFlow writes it in a checkpoint key: '.' doubled, then '/' as '.S' (so a dict key
    'box/scale' is the one part 'box.Sscale', not two)."""
    return name.replace(".", "..").replace("/", ".S")


class CheckpointReadError(ValueError):
    """A checkpoint's files cannot be read: an index that is not one, a data file cut short or corrupt."""


def read_checkpoint_shapes(prefix: str, what: str = "checkpoint") -> Dict[str, List[int]]:
    """Key -> shape of every value in the checkpoint at prefix; CheckpointReadError naming the .index file when
    it is not a TF checkpoint index (TensorFlow says only 'not an sstable')."""
    try:
        return {name: list(shape) for name, shape in tf.train.list_variables(prefix)}
    except (tf.errors.OpError, ValueError) as error:
        raise CheckpointReadError(
            f"{what}: {prefix}.index is not a readable TF checkpoint index ({first_line(error)}); expected the "
            "ckpt-N.index file a TF2 trainer writes beside its ckpt-N.data-* files: copy it again") from None


def first_line(error: BaseException, containing: str = "") -> str:
    """The first line of the error's message (the first holding `containing`, where one does), at most 300
    characters: TensorFlow's messages carry tracebacks after it, or an 'in user code:' header before it."""
    lines = [line.strip() for line in (getattr(error, "message", None) or str(error)).strip().splitlines()]
    lines = [line for line in lines if line and containing in line] or [line for line in lines if line]
    return lines[0][:300] if lines else type(error).__name__


def data_file_sizes(prefix: str) -> str:
    return ", ".join(f"{os.path.basename(name)} ({tf.io.gfile.stat(name).length:,} bytes)"
                     for name in sorted(tf.io.gfile.glob(prefix + ".data-*-of-*")))


COPY_AGAIN = "copy the checkpoint again (every ckpt-N.index and ckpt-N.data-* file)"


def unreadable_values(what: str, prefix: str, error: BaseException, remedy: str = COPY_AGAIN) -> CheckpointReadError:
    """The error for a checkpoint whose values could not be read (TensorFlow's IndexError 'Read less bytes than
    requested' or a data-loss error names no file): `what`, the checkpoint, its data files with their sizes and
    `remedy`."""
    return CheckpointReadError(
        f"{what}: reading the values of {prefix} failed ({first_line(error)}); its data files: "
        f"{data_file_sizes(prefix) or 'none'}. A data file cut short or corrupt reads so: {remedy}")


def misfit_hint(config_source: str) -> str:
    """What to check when a checkpoint does not fit the model built from config_source."""
    return (f"The model is built from {config_source}: check its architecture and num_classes against the "
            "pipeline.config the checkpoint was trained with (the one in its model_dir).")


def restore_checked(objects: Dict[str, object], prefix: str, what: str, hint: str = "",
                    check: Optional[Dict[str, object]] = None):
    """Restores tf.train.Checkpoint(**objects) from prefix (parts of the checkpoint that objects lack are
    skipped); the objects' variables must exist (run the model once first).

    Every variable of `check` (default: objects) must be in the checkpoint with its own shape, else
    CheckpointMismatchError lists each one that is missing or differs, prefixed by `what` and followed by `hint`
    (TensorFlow names the first only, deep in its restore code). A checkpoint whose files cannot be read raises
    CheckpointReadError naming them. Returns the restore status.
    """
    stored = read_checkpoint_shapes(prefix, what)
    try:
        check_checkpoint_fits(objects if check is None else check, prefix, stored)
    except CheckpointMismatchError as mismatch:
        raise CheckpointMismatchError(f"{what}: {mismatch}{hint}") from None
    try:
        status = tf.train.Checkpoint(**objects).restore(prefix).expect_partial()
        status.assert_existing_objects_matched()
    except (tf.errors.OpError, IndexError) as error:
        raise unreadable_values(what, prefix, error) from None
    return status


def check_checkpoint_fits(objects: Dict[str, object], checkpoint_path: str,
                          stored: Optional[Dict[str, List[int]]] = None) -> None:
    """Raises CheckpointMismatchError listing missing and shape-mismatched variables."""
    if stored is None:
        stored = read_checkpoint_shapes(checkpoint_path)
    expected = expected_checkpoint_keys(objects)
    missing = sorted(k for k in expected if k not in stored)
    mismatched = sorted(f"{k}: checkpoint {stored[k]}, model {shape}" for k, shape in expected.items()
                        if k in stored and list(stored[k]) != shape)
    if missing or mismatched:
        lines = [f"checkpoint {checkpoint_path} does not fit the model "
                 f"({len(missing)} missing, {len(mismatched)} with another shape)"]
        # A few of each: the counts say how far apart the two models are; the full lists run to thousands.
        lines += [f"  missing: {k}" for k in missing[:_LISTED]]
        if len(missing) > _LISTED:
            lines.append(f"  ... and {len(missing) - _LISTED} more missing")
        lines += [f"  shape mismatch: {m}" for m in mismatched[:_LISTED]]
        if len(mismatched) > _LISTED:
            lines.append(f"  ... and {len(mismatched) - _LISTED} more mismatched")
        raise CheckpointMismatchError("\n".join(lines))
