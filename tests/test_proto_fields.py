"""tfsynth's config protos against the OD API's, message by message and field by field.

tests/data/odapi_proto_fields.json lists every message, field and enum of the OD API's config protos as protoc
compiles them (built by tools/odapi_proto_table.py from the OD API's .proto files; its "sources" say which copy of
each file and which commit). Here the compiled descriptors of tfsynth.protos are described the same way
(tfsynth.protos.describe) and compared: a field the OD API has and we lack fails a test that names the message and
the field, instead of failing a user's config at parse time. Anything we declare beyond the OD API must be listed
below with its reason.
"""
from __future__ import annotations

import importlib
import json
import math
import pathlib
import pkgutil
import struct

import pytest
from google.protobuf import descriptor_pb2, text_format

import tfsynth.protos
from tfsynth.protos import eval_pb2, input_reader_pb2, pipeline_pb2
from tfsynth.protos.describe import describe_file

TABLE_PATH = pathlib.Path(__file__).resolve().parent / "data" / "odapi_proto_fields.json"
TABLE = json.loads(TABLE_PATH.read_text())

# Messages, fields ("Message.field") and enum values ("Enum.VALUE") that tfsynth declares beyond the OD API, each
# with the reason it exists. Beyond that list, tfsynth's protos declare exactly the OD API's surface.
_TFDS_READER = ("tfsynth's input reader of a prepared TensorFlow Datasets split (model_main_tf2 trains from "
                "`tfds build` output); field number 100, unused by the OD API, so its configs parse unchanged")
_EXAMPLE = ("TensorFlow's tf.train.Example and its parts (not the OD API's), declared so that records are written and "
            "read without importing TensorFlow; tests/test_tfrecord_framing.py holds them to TensorFlow's descriptors")
ALLOWED_EXTRA_MESSAGES: dict[str, str] = {"TfdsInputReader": _TFDS_READER, "Example": _EXAMPLE, "Features": _EXAMPLE,
                                          "Feature": _EXAMPLE, "BytesList": _EXAMPLE, "FloatList": _EXAMPLE,
                                          "Int64List": _EXAMPLE}
ALLOWED_EXTRA_FIELDS: dict[str, str] = {"InputReader.tfds_input_reader": _TFDS_READER}
ALLOWED_EXTRA_ENUMS: dict[str, str] = {}
ALLOWED_EXTRA_ENUM_VALUES: dict[str, str] = {}
# Fields declared by both whose attribute differs on purpose: {"Message.field": {"attribute": reason}}.
ALLOWED_DIFFERENCES: dict[str, dict[str, str]] = {}


def _describe_ours() -> tuple[dict[str, dict], dict[str, dict]]:
    """Messages and enums of every generated module of tfsynth.protos, from the compiled descriptors."""
    messages: dict[str, dict] = {}
    enums: dict[str, dict] = {}
    for module_info in pkgutil.iter_modules(tfsynth.protos.__path__):
        if not module_info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"tfsynth.protos.{module_info.name}")
        file_proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(file_proto)
        file_messages, file_enums = describe_file(file_proto)
        for name in file_messages.keys() & messages.keys():
            raise AssertionError(f"message {name} is declared in two files")
        messages.update(file_messages)
        enums.update(file_enums)
    return messages, enums


OUR_MESSAGES, OUR_ENUMS = _describe_ours()


def _same_default(type_name: str, theirs: str | None, ours: str | None) -> bool:
    """Defaults compared by value: protoc keeps a float default's source text ("0.6") while a runtime descriptor
    prints the float32 it holds ("0.600000024"), so floats are compared as float32."""
    if theirs is None or ours is None:
        return theirs is ours
    if type_name in ("float", "double"):
        a, b = float(theirs), float(ours)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if type_name == "float":
            a, b = (struct.unpack("<f", struct.pack("<f", x))[0] for x in (a, b))
        return a == b
    return theirs == ours


def _field_differences(message: str, theirs: dict, ours: dict) -> list[str]:
    """Human-readable differences between one OD API field and ours, allowed differences left out."""
    allowed = ALLOWED_DIFFERENCES.get(f"{message}.{theirs['name']}", {})
    problems = []
    for attribute in ("number", "label", "type", "default", "oneof", "deprecated"):
        if attribute in allowed:
            continue
        if attribute == "default":
            same = _same_default(theirs["type"], theirs["default"], ours["default"])
        else:
            same = theirs[attribute] == ours[attribute]
        if not same:
            problems.append(f"{message}.{theirs['name']}: {attribute} is {ours[attribute]!r} in tfsynth, "
                            f"{theirs[attribute]!r} in the OD API ({TABLE['messages'][message]['file']})")
    return problems


def test_table_covers_the_od_api_config_surface():
    # A table that silently shrank (a file left out when it was rebuilt) would let missing fields pass.
    assert len(TABLE["sources"]) == 34, sorted(TABLE["sources"])
    assert len(TABLE["messages"]) >= 160 and len(TABLE["enums"]) >= 21
    assert sum(len(m["fields"]) for m in TABLE["messages"].values()) >= 844
    for name, source in TABLE["sources"].items():
        assert len(source["commit"]) == 40, f"{TABLE_PATH.name}: source of {name} names no full commit"
    files = {m["file"] for m in TABLE["messages"].values()} | {e["file"] for e in TABLE["enums"].values()}
    assert files <= set(TABLE["sources"]), files - set(TABLE["sources"])


def _message_problems(message: str, theirs: dict, ours: dict) -> list[str]:
    """Everything that differs between the OD API's message and ours, one line each, allow-listed items left out."""
    problems = []
    if ours["file"] != theirs["file"]:
        problems.append(f"message {message} is in protos/{ours['file']}, the OD API has it in {theirs['file']}")
    our_fields = {field["name"]: field for field in ours["fields"]}
    for field in theirs["fields"]:
        if field["name"] not in our_fields:
            problems.append(f"{message}.{field['name']} (= {field['number']}, {field['label']} {field['type']}) "
                            f"is missing from protos/{theirs['file']}")
        else:
            problems.extend(_field_differences(message, field, our_fields[field["name"]]))
    their_names = {field["name"] for field in theirs["fields"]}
    for name in sorted(our_fields.keys() - their_names):
        if f"{message}.{name}" not in ALLOWED_EXTRA_FIELDS:
            problems.append(f"{message}.{name} is not an OD API field; add it to ALLOWED_EXTRA_FIELDS with a reason "
                            f"or remove it from protos/{ours['file']}")
    if ours["extension_ranges"] != theirs["extension_ranges"]:
        problems.append(f"{message}: extension ranges {ours['extension_ranges']} in tfsynth, "
                        f"{theirs['extension_ranges']} in the OD API")
    return problems


@pytest.mark.parametrize("message", sorted(TABLE["messages"]))
def test_message_matches_the_od_api(message):
    theirs = TABLE["messages"][message]
    assert message in OUR_MESSAGES, f"message {message} of the OD API's {theirs['file']} is missing from protos/"
    problems = _message_problems(message, theirs, OUR_MESSAGES[message])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("enum", sorted(TABLE["enums"]))
def test_enum_matches_the_od_api(enum):
    theirs = TABLE["enums"][enum]
    assert enum in OUR_ENUMS, f"enum {enum} of the OD API's {theirs['file']} is missing from protos/"
    ours = OUR_ENUMS[enum]
    assert ours["file"] == theirs["file"], \
        f"enum {enum} is in protos/{ours['file']}, the OD API has it in {theirs['file']}"
    problems = [f"{enum}.{value} (= {number}) is missing from protos/{theirs['file']}"
                for value, number in theirs["values"].items() if value not in ours["values"]]
    problems += [f"{enum}.{value} is {ours['values'][value]} in tfsynth, {number} in the OD API"
                 for value, number in theirs["values"].items()
                 if value in ours["values"] and ours["values"][value] != number]
    problems += [f"{enum}.{value} is not an OD API enum value; add it to ALLOWED_EXTRA_ENUM_VALUES with a reason"
                 for value in ours["values"].keys() - theirs["values"].keys()
                 if f"{enum}.{value}" not in ALLOWED_EXTRA_ENUM_VALUES]
    assert not problems, "\n".join(problems)


def test_no_messages_or_enums_beyond_the_od_api_unless_listed():
    extra_messages = sorted(OUR_MESSAGES.keys() - TABLE["messages"].keys() - ALLOWED_EXTRA_MESSAGES.keys())
    extra_enums = sorted(OUR_ENUMS.keys() - TABLE["enums"].keys() - ALLOWED_EXTRA_ENUMS.keys())
    assert not extra_messages, f"messages not in the OD API (list them in ALLOWED_EXTRA_MESSAGES): {extra_messages}"
    assert not extra_enums, f"enums not in the OD API (list them in ALLOWED_EXTRA_ENUMS): {extra_enums}"


def test_allow_lists_name_only_real_differences():
    # An entry that no longer matches anything would hide the next real difference under its reason.
    stale = [name for name in ALLOWED_EXTRA_MESSAGES if name in TABLE["messages"] or name not in OUR_MESSAGES]
    stale += [name for name in ALLOWED_EXTRA_ENUMS if name in TABLE["enums"] or name not in OUR_ENUMS]
    for name in ALLOWED_EXTRA_FIELDS:
        message, field = name.rsplit(".", 1)
        ours = {f["name"] for f in OUR_MESSAGES.get(message, {"fields": []})["fields"]}
        theirs = {f["name"] for f in TABLE["messages"].get(message, {"fields": []})["fields"]}
        if field not in ours or field in theirs:
            stale.append(name)
    for name in ALLOWED_EXTRA_ENUM_VALUES:
        enum, value = name.rsplit(".", 1)
        if value not in OUR_ENUMS.get(enum, {"values": {}})["values"] or \
                value in TABLE["enums"].get(enum, {"values": {}})["values"]:
            stale.append(name)
    for name in ALLOWED_DIFFERENCES:
        message, field = name.rsplit(".", 1)
        if not any(f["name"] == field for f in TABLE["messages"].get(message, {"fields": []})["fields"]):
            stale.append(name)
    assert not stale, f"allow-list entries that match no difference: {stale}"


def test_a_missing_or_changed_field_is_reported_by_message_and_field():
    """The comparison itself, on a doctored copy of the table's EvalConfig: one field added, one renumbered."""
    theirs = json.loads(json.dumps(TABLE["messages"]["EvalConfig"]))
    theirs["fields"].append({"name": "no_such_field", "number": 999, "label": "optional", "type": "bool",
                             "default": None, "oneof": None, "deprecated": False})
    theirs["fields"][0]["number"] += 1000
    problems = _message_problems("EvalConfig", theirs, OUR_MESSAGES["EvalConfig"])
    assert len(problems) == 2, problems
    assert problems[0].startswith(f"EvalConfig.{theirs['fields'][0]['name']}: number is")
    assert problems[1].startswith("EvalConfig.no_such_field (= 999, optional bool) is missing from protos/eval.proto")


def test_float_defaults_compare_as_float32():
    assert _same_default("float", "0.6", "0.600000024")
    assert not _same_default("float", "0.6", "0.7")
    assert _same_default("float", "1e-8", "9.99999994e-09")
    assert _same_default("string", None, None) and not _same_default("string", "", None)


def test_fields_added_for_od_api_configs_parse():
    """The two fields the table showed missing (issue 16): configs that set them now parse."""
    config = text_format.Parse(
        'eval_config { metrics_set: "oid_V2_detection_metrics" image_classes_field_map_empty_to_ones: false } '
        'eval_input_reader { use_keypoint_label_map: true }',
        pipeline_pb2.TrainEvalPipelineConfig())
    assert config.eval_config.image_classes_field_map_empty_to_ones is False
    assert eval_pb2.EvalConfig().image_classes_field_map_empty_to_ones is True
    assert config.eval_input_reader[0].use_keypoint_label_map is True
    assert input_reader_pb2.InputReader().use_keypoint_label_map is False
