"""Fine-tune checkpoint restore with a complete error report.

restore_fine_tune_checkpoint(model, path, type) restores what model.restore_from_objects(type) names (see
SSDMetaArch.restore_from_objects for what each type covers). Before restoring, the checkpoint's keys and shapes
are compared with the objects' variables, and a checkpoint that does not fit raises CheckpointMismatchError
listing every missing variable and every shape mismatch, instead of TF's first-error-only or silent partial load.
"""
from typing import Dict, List, Tuple

import tensorflow as tf

_VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


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
        queue.extend((f"{path}/{name}", child) for name, child in children.items())
    return keys


def check_checkpoint_fits(objects: Dict[str, object], checkpoint_path: str) -> None:
    """Raises CheckpointMismatchError listing missing and shape-mismatched variables."""
    stored = dict(tf.train.list_variables(checkpoint_path))
    expected = expected_checkpoint_keys(objects)
    missing = sorted(k for k in expected if k not in stored)
    mismatched = sorted(f"{k}: checkpoint {stored[k]}, model {shape}" for k, shape in expected.items()
                        if k in stored and list(stored[k]) != shape)
    if missing or mismatched:
        lines = [f"checkpoint {checkpoint_path} does not fit the model "
                 f"({len(missing)} missing, {len(mismatched)} with another shape)"]
        lines += [f"  missing: {k}" for k in missing[:50]]
        if len(missing) > 50:
            lines.append(f"  ... and {len(missing) - 50} more missing")
        lines += [f"  shape mismatch: {m}" for m in mismatched[:50]]
        if len(mismatched) > 50:
            lines.append(f"  ... and {len(mismatched) - 50} more mismatched")
        raise CheckpointMismatchError("\n".join(lines))


def restore_fine_tune_checkpoint(model, checkpoint_path: str, fine_tune_checkpoint_type: str = "detection"):
    """Restores a fine-tune checkpoint into a built model (call predict once first so variables exist)."""
    if not model.variables:
        raise ValueError("restore_fine_tune_checkpoint: the model has no variables yet; run one forward pass first")
    objects = model.restore_from_objects(fine_tune_checkpoint_type)
    check_checkpoint_fits(objects, checkpoint_path)
    status = tf.train.Checkpoint(**objects).restore(checkpoint_path)
    status.assert_existing_objects_matched()
    return status
