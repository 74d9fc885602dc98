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
    import subprocess
    import sys

    proto_dir = pathlib.Path(proto_dir).resolve()
    out_root = pathlib.Path(out_root).resolve()
    sources = sorted(proto_dir.glob("*.proto"))
    if not sources:
        raise RuntimeError(f"no .proto files in {proto_dir}")
    # Output goes to the folder two levels above out_root, so that the virtual path tfsynth/protos/X.proto
    # lands in out_root/X_pb2.py.
    package_parent = out_root.parent.parent
    args = [
        sys.executable, "-m", "grpc_tools.protoc",
        f"-Itfsynth/protos={proto_dir}",
        f"--python_out={package_parent}",
    ] + [f"tfsynth/protos/{source.name}" for source in sources]
    # `python -m grpc_tools.protoc` (grpcio-tools) adds its own include path for the well-known protos. It runs in a
    # child process because grpc_tools' protobuf runtime crashes an interpreter that has already loaded TensorFlow.
    completed = subprocess.run(args, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"protoc failed (exit {completed.returncode}) on {proto_dir}:\n{completed.stderr}")
    return [out_root / f"{source.stem}_pb2.py" for source in sources]
