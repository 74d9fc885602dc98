"""Refuse config fields that tfsynth does not honour, instead of silently ignoring them.

Every builder lists the fields of its message that it reads; any other field that is set to a value different
from its default is an error that names the field by its path in the config (e.g. model.ssd.box_predictor....).
"""
from typing import Iterable, Mapping, Optional

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


def _shown(field: FieldDescriptor, value) -> str:
    """A field's value as the user wrote it in text format (true, an enum name, "a string"), messages as {...}."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return "{...}"
    if field.is_repeated:
        return "[" + ", ".join(_shown_scalar(field, item) for item in value) + "]"
    return _shown_scalar(field, value)


def _shown_scalar(field: FieldDescriptor, value) -> str:
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    if field.type == FieldDescriptor.TYPE_ENUM:
        named = field.enum_type.values_by_number.get(value)
        return named.name if named is not None else str(value)
    if field.type == FieldDescriptor.TYPE_STRING:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if field.type == FieldDescriptor.TYPE_FLOAT:
        return f"{value:.7g}"  # float32: 0.2 reads back as 0.20000000298023224 otherwise
    return str(value)


def reject_unhonoured(message, honoured: Iterable[str], where: str,
                      hints: Optional[Mapping[str, str]] = None) -> None:
    """Raises UnsupportedConfigError for a field of `message` outside `honoured` that is set to a non-default.

    The error reads `WHERE.FIELD = VALUE: this field is not supported by tfsynth ...`; hints (field -> text) adds
    why the field matters, or what to set instead, in parentheses.
    """
    honoured = set(honoured)
    hints = hints or {}
    for field, value in message.ListFields():
        if field.name not in honoured and _is_non_default(field, value):
            hint = f" ({hints[field.name]})" if field.name in hints else ""
            raise UnsupportedConfigError(
                f"{where}.{field.name} = {_shown(field, value)}: this field is not supported by tfsynth (only its "
                f"default value is); remove it or set it to its default{hint}")


def require_oneof(message, oneof: str, supported: Iterable[str], where: str) -> str:
    """The name of the set branch of oneof `oneof`; NotImplementedError naming it when it is not supported."""
    branch = message.WhichOneof(oneof)
    if branch is None:
        raise ValueError(f"{where}: no {oneof} set (expected one of {sorted(supported)})")
    if branch not in set(supported):
        raise UnsupportedConfigError(f"{where}.{branch}: not implemented in tfsynth (supported: "
                                     f"{', '.join(sorted(supported))})")
    return branch
