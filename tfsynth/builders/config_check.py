"""Refuse config fields that tfsynth does not honour, instead of silently ignoring them.

Every builder lists the fields of its message that it reads; any other field that is set to a value different
from its default is an error that names the field by its path in the config (e.g. model.ssd.box_predictor....).
"""
from typing import Iterable

from google.protobuf.descriptor import FieldDescriptor


class UnsupportedConfigError(NotImplementedError):
    """A config field is set to a value tfsynth does not implement."""


def _is_non_default(field: FieldDescriptor, value) -> bool:
    if field.is_repeated:
        return len(value) > 0
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        # An empty message that selects a oneof branch still means something (e.g. iou_similarity {}).
        return value.ByteSize() > 0 or field.containing_oneof is not None
    return value != field.default_value


def reject_unhonoured(message, honoured: Iterable[str], where: str) -> None:
    """Raises UnsupportedConfigError for a field of `message` outside `honoured` that is set to a non-default."""
    honoured = set(honoured)
    for field, value in message.ListFields():
        if field.name not in honoured and _is_non_default(field, value):
            shown = value if field.type != FieldDescriptor.TYPE_MESSAGE else "{...}"
            raise UnsupportedConfigError(
                f"{where}.{field.name} = {shown}: this field is not supported by tfsynth (only its default "
                f"value is); remove it or set it to its default")


def require_oneof(message, oneof: str, supported: Iterable[str], where: str) -> str:
    """The name of the set branch of oneof `oneof`; NotImplementedError naming it when it is not supported."""
    branch = message.WhichOneof(oneof)
    if branch is None:
        raise ValueError(f"{where}: no {oneof} set (expected one of {sorted(supported)})")
    if branch not in set(supported):
        raise UnsupportedConfigError(f"{where}.{branch}: not implemented in tfsynth (supported: "
                                     f"{', '.join(sorted(supported))})")
    return branch
