"""Compile the .proto files of protos/ into Python modules of the package tfsynth.protos.

The .proto files import each other as "tfsynth/protos/NAME.proto"; protoc's virtual path mapping
(-Itfsynth/protos=DIR) lets them live in the top-level protos/ folder while the generated code imports
tfsynth.protos.NAME_pb2. Used by setup.py at install, and by tfsynth.protos on import of a source tree
that was never installed.
"""
from __future__ import annotations

import pathlib


def compile_protos(proto_dir: pathlib.Path, out_root: pathlib.Path) -> list[pathlib.Path]:
    """Runs protoc on every proto_dir/*.proto; writes NAME_pb2.py into out_root (the tfsynth/protos folder).

    Returns the generated files. Raises RuntimeError with protoc's message when a file does not compile.
    """
    from grpc_tools import protoc  # imported here: only needed when compiling
    import importlib.resources

    proto_dir = pathlib.Path(proto_dir).resolve()
    out_root = pathlib.Path(out_root).resolve()
    sources = sorted(proto_dir.glob("*.proto"))
    if not sources:
        raise RuntimeError(f"no .proto files in {proto_dir}")
    # Output goes to the folder two levels above out_root, so that the virtual path tfsynth/protos/X.proto
    # lands in out_root/X_pb2.py.
    package_parent = out_root.parent.parent
    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    args = [
        "protoc",
        f"-Itfsynth/protos={proto_dir}",
        f"-I{well_known}",
        f"--python_out={package_parent}",
    ] + [f"tfsynth/protos/{source.name}" for source in sources]
    status = protoc.main(args)
    if status != 0:
        raise RuntimeError(f"protoc failed (exit {status}) on {proto_dir}; see the message above")
    return [out_root / f"{source.stem}_pb2.py" for source in sources]
