"""Generated protobuf modules of tfsynth's configuration (the OD API's messages, proto package tfsynth.protos).

The *_pb2.py files are generated at install from protos/*.proto and never committed. A source checkout that was
not installed compiles them here on first import (needs grpcio-tools), so tests run from a plain clone too.
"""
import pathlib as _pathlib

_HERE = _pathlib.Path(__file__).resolve().parent
_PROTO_DIR = _HERE.parent.parent / "protos"


def _ensure_compiled() -> None:
    if not _PROTO_DIR.is_dir():
        return  # installed wheel: the generated modules ship with it
    sources = list(_PROTO_DIR.glob("*.proto"))
    stale = [s for s in sources
             if not (_HERE / f"{s.stem}_pb2.py").exists()
             or (_HERE / f"{s.stem}_pb2.py").stat().st_mtime < s.stat().st_mtime]
    if stale:
        from tfsynth.protos.compile import compile_protos
        compile_protos(_PROTO_DIR, _HERE)


_ensure_compiled()
