"""Build tests/data/odapi_proto_fields.json: every message, field and enum of the OD API's config protos.

One-off maintenance tool, never run by the tests. Input: a folder laid out as ``object_detection/protos/*.proto``
holding the OD API's .proto files (comments may be stripped; declarations must be verbatim), a ``SOURCES.tsv``
beside it (file, repository, path, commit: where each file was read) and optionally ``NOTES.txt`` (one note a line,
copied into the table). protoc (grpcio-tools) compiles the folder into
a descriptor set, so the table states what protoc itself makes of the OD API's files: numbers, labels, types and
normalised default texts exactly as in a compiled descriptor.

    python tools/odapi_proto_table.py REF_DIR tests/data/odapi_proto_fields.json --protoc-python /path/to/python

``--protoc-python`` names an interpreter that has grpcio-tools (it may be the build environment of setup.py).
"""
from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2

from tfsynth.protos.describe import describe_file

PACKAGE = "object_detection.protos"


def compile_descriptor_set(ref_dir: pathlib.Path, protoc_python: str) -> descriptor_pb2.FileDescriptorSet:
    """Runs protoc (grpc_tools, in protoc_python) on ref_dir/object_detection/protos/*.proto."""
    sources = sorted((ref_dir / "object_detection" / "protos").glob("*.proto"))
    if not sources:
        raise SystemExit(f"no .proto files under {ref_dir}/object_detection/protos")
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "set.pb"
        args = [protoc_python, "-m", "grpc_tools.protoc", f"-I{ref_dir}", f"--descriptor_set_out={out}",
                "--include_imports"] + [str(s.relative_to(ref_dir)) for s in sources]
        completed = subprocess.run(args, capture_output=True, text=True)
        if completed.returncode != 0:
            raise SystemExit(f"protoc failed on {ref_dir}:\n{completed.stderr}")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def dump_table(table: dict) -> str:
    """JSON text with one line per field, enum, source and note, so a diff of the table reads field by field."""
    def compact(value) -> str:
        return json.dumps(value, separators=(", ", ": "))

    lines = ["{"]
    for key in ("about", "generated"):
        lines.append(f"  {json.dumps(key)}: {compact(table[key])},")
    lines.append('  "notes": [')
    lines.append(",\n".join(f"    {compact(note)}" for note in table["notes"]))
    lines.append("  ],")
    lines.append('  "sources": {')
    lines.append(",\n".join(f"    {json.dumps(name)}: {compact(source)}" for name, source in table["sources"].items()))
    lines.append("  },")
    lines.append('  "messages": {')
    blocks = []
    for name, message in table["messages"].items():
        fields = ",\n".join(f"      {compact(field)}" for field in message["fields"])
        blocks.append(f"    {json.dumps(name)}: {{\"file\": {json.dumps(message['file'])}, "
                      f"\"extension_ranges\": {compact(message['extension_ranges'])}, \"fields\": ["
                      + (f"\n{fields}\n    " if fields else "") + "]}")
    lines.append(",\n".join(blocks))
    lines.append("  },")
    lines.append('  "enums": {')
    lines.append(",\n".join(f"    {json.dumps(name)}: {compact(enum)}" for name, enum in table["enums"].items()))
    lines.append("  }")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    if json.loads(text) != table:
        raise AssertionError("dump_table lost information")
    return text


def main(argv: list[str] | None = None) -> None:
    """Writes the table (JSON) from a folder of OD API .proto files; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref_dir", type=pathlib.Path)
    parser.add_argument("output", type=pathlib.Path)
    parser.add_argument("--protoc-python", default=sys.executable)
    args = parser.parse_args(argv)

    sources = {}
    for line in (args.ref_dir / "SOURCES.tsv").read_text().splitlines():
        if line.strip():
            name, repo, path, commit = line.split("\t")
            sources[name] = {"repo": repo, "path": path, "commit": commit}
    notes_file = args.ref_dir / "NOTES.txt"
    notes = [line for line in notes_file.read_text().splitlines() if line.strip()] if notes_file.exists() else []
    descriptor_set = compile_descriptor_set(args.ref_dir, args.protoc_python)
    messages: dict[str, dict] = {}
    enums: dict[str, dict] = {}
    for file_proto in descriptor_set.file:
        if file_proto.package != PACKAGE:
            continue
        if file_proto.name.rsplit("/", 1)[-1] not in sources:
            raise SystemExit(f"{file_proto.name}: no line in SOURCES.tsv says where it was read")
        file_messages, file_enums = describe_file(file_proto)
        messages.update(file_messages)
        enums.update(file_enums)
    table = {
        "about": "Fields of the TensorFlow Object Detection API's config protos (package object_detection.protos), "
                 "as compiled by protoc from the OD API's own .proto files. Built by tools/odapi_proto_table.py; "
                 "checked by tests/test_proto_fields.py.",
        "generated": datetime.date.today().isoformat(),
        "notes": notes,
        "sources": dict(sorted(sources.items())),
        "messages": dict(sorted(messages.items())),
        "enums": dict(sorted(enums.items())),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(dump_table(table))
    n_fields = sum(len(m["fields"]) for m in messages.values())
    print(f"{args.output}: {len(messages)} messages, {n_fields} fields, {len(enums)} enums from {len(sources)} files")


if __name__ == "__main__":
    main()
