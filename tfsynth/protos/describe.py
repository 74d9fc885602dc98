"""Plain-data description of compiled .proto files: messages with their fields, and enums with their values.

Used to compare tfsynth's protos with the OD API's field by field (tests/test_proto_fields.py against the table
tests/data/odapi_proto_fields.json, which tools/odapi_proto_table.py writes with this same function, so both sides
are described identically). Names are relative to the file's proto package, so object_detection.protos.X and
tfsynth.protos.X compare equal.
"""
from __future__ import annotations

from google.protobuf import descriptor_pb2

_FDP = descriptor_pb2.FieldDescriptorProto
SCALAR_TYPES = {
    _FDP.TYPE_DOUBLE: "double", _FDP.TYPE_FLOAT: "float", _FDP.TYPE_INT64: "int64", _FDP.TYPE_UINT64: "uint64",
    _FDP.TYPE_INT32: "int32", _FDP.TYPE_FIXED64: "fixed64", _FDP.TYPE_FIXED32: "fixed32", _FDP.TYPE_BOOL: "bool",
    _FDP.TYPE_STRING: "string", _FDP.TYPE_BYTES: "bytes", _FDP.TYPE_UINT32: "uint32", _FDP.TYPE_SFIXED32: "sfixed32",
    _FDP.TYPE_SFIXED64: "sfixed64", _FDP.TYPE_SINT32: "sint32", _FDP.TYPE_SINT64: "sint64",
}
LABELS = {_FDP.LABEL_OPTIONAL: "optional", _FDP.LABEL_REPEATED: "repeated", _FDP.LABEL_REQUIRED: "required"}


def relative_name(full_name: str, package: str) -> str:
    """'.pkg.A.B' -> 'A.B'. Raises ValueError for a type outside the package (a dependency we do not describe)."""
    prefix = f".{package}."
    if not full_name.startswith(prefix):
        raise ValueError(f"type {full_name} is outside package {package}")
    return full_name[len(prefix):]


def describe_file(file_proto: descriptor_pb2.FileDescriptorProto) -> tuple[dict[str, dict], dict[str, dict]]:
    """Returns ({message name: entry}, {enum name: entry}) for one compiled .proto file, nested types included.

    A message entry is {"file", "fields": [{"name", "number", "label", "type", "default", "oneof", "deprecated"}],
    "extension_ranges"}; an enum entry is {"file", "values": {name: number}}. Scalar types are written by name,
    message and enum types as "message:Name" / "enum:Name". Map fields get label "map" and type "map<K,V>", and their
    synthetic *Entry messages are left out: that is how a user writes them. Defaults are protoc's normalised text
    (None when the field declares none).
    """
    package = file_proto.package
    file_name = file_proto.name.rsplit("/", 1)[-1]
    messages: dict[str, dict] = {}
    enums: dict[str, dict] = {}

    def field_type(field: descriptor_pb2.FieldDescriptorProto, map_entries: dict[str, str]) -> str:
        if field.type in SCALAR_TYPES:
            return SCALAR_TYPES[field.type]
        name = relative_name(field.type_name, package)
        if name in map_entries:
            return map_entries[name]
        return f"{'enum' if field.type == _FDP.TYPE_ENUM else 'message'}:{name}"

    def walk_enum(enum: descriptor_pb2.EnumDescriptorProto, prefix: str) -> None:
        enums[prefix + enum.name] = {"file": file_name, "values": {v.name: v.number for v in enum.value}}

    def walk(message: descriptor_pb2.DescriptorProto, prefix: str) -> None:
        name = prefix + message.name
        map_entries = {f"{name}.{nested.name}": f"map<{field_type(nested.field[0], {})},"
                                                 f"{field_type(nested.field[1], {})}>"
                       for nested in message.nested_type if nested.options.map_entry}
        fields = []
        for field in message.field:
            type_text = field_type(field, map_entries)
            fields.append({
                "name": field.name,
                "number": field.number,
                "label": "map" if type_text.startswith("map<") else LABELS[field.label],
                "type": type_text,
                "default": field.default_value if field.HasField("default_value") else None,
                "oneof": message.oneof_decl[field.oneof_index].name if field.HasField("oneof_index") else None,
                "deprecated": bool(field.options.deprecated),
            })
        messages[name] = {"file": file_name, "fields": fields,
                          "extension_ranges": [[r.start, r.end] for r in message.extension_range]}
        for nested in message.nested_type:
            if not nested.options.map_entry:
                walk(nested, name + ".")
        for enum in message.enum_type:
            walk_enum(enum, name + ".")

    for message in file_proto.message_type:
        walk(message, "")
    for enum in file_proto.enum_type:
        walk_enum(enum, "")
    return messages, enums
