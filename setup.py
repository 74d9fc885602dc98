"""Build hook: compile protos/*.proto into tfsynth/protos/*_pb2.py before the package is built.

Metadata lives in setup.cfg; this file only adds the proto step, for regular and editable installs alike.
"""
import importlib.util
import pathlib

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = pathlib.Path(__file__).resolve().parent


def _compile_protos() -> None:
    spec = importlib.util.spec_from_file_location("_proto_compile", ROOT / "tfsynth" / "protos" / "compile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.compile_protos(ROOT / "protos", ROOT / "tfsynth" / "protos")


class BuildPyWithProtos(build_py):
    """build_py that writes the generated proto modules into the source tree first."""

    def run(self):
        _compile_protos()
        super().run()


setup(cmdclass={"build_py": BuildPyWithProtos})
