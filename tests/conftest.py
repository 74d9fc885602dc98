"""Suite-wide: the shared data the tests read (OD API reference configs and goldens, the real photos, the Unity
SOLO sample) must be there. Its absence fails the run at once instead of skipping the tests that need it, so CI
on a machine without ../shared never reports a pass for checks it did not make.

Also the one build of `tfsynth_renders/tiny` (with generate's records of the same renders) that the TFDS tests
share: rendered once per session, not once per test module."""
from __future__ import annotations

import pytest

from tests.commands import run_module
from tfsynth.utils.shared_data import SHARED_DATA

_REQUIRED = ("odapi_reference", "real/cntk_fridge_us", "unity_solo_sample")


def pytest_configure(config: pytest.Config) -> None:
    missing = [name for name in _REQUIRED if not (SHARED_DATA / name).is_dir()]
    if missing:
        raise pytest.UsageError(f"shared test data missing under {SHARED_DATA}: {missing}; put the project's shared/ "
                                "folder beside the repository or set TFSYNTH_SHARED_DATA to its data/ folder")


# Longer than this, a failed == of two strings, byte strings or containers of them is reported by size and first
# difference only: pytest's own report diffs them with difflib, which takes hours on megabytes (a checkpoint's bytes
# once ran CI past its time limit that way).
_LONGEST_DIFFED = 20_000


def _size(value: object) -> int:
    if isinstance(value, (str, bytes, bytearray)):
        return len(value)
    if isinstance(value, dict):
        return sum(_size(key) + _size(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return sum(_size(item) for item in value)
    return 0


def _first_difference(left: object, right: object) -> str:
    if isinstance(left, dict) and isinstance(right, dict):
        keys = sorted(set(left) ^ set(right), key=repr)
        if keys:
            return f"keys on one side only: {keys[:5]!r}"
        differing = [key for key in left if left[key] != right[key]]
        return f"{len(differing)} values differ, at keys {differing[:5]!r}"
    if isinstance(left, (str, bytes, bytearray)) and isinstance(right, type(left)):
        at = next((i for i, (a, b) in enumerate(zip(left, right)) if a != b), min(len(left), len(right)))
        return f"first difference at offset {at}"
    return "values differ"


def pytest_assertrepr_compare(op: str, left: object, right: object) -> list[str] | None:
    """A short report of a failed == between large values, instead of pytest's difflib diff of them."""
    if op != "==" or max(_size(left), _size(right)) <= _LONGEST_DIFFED:
        return None
    return [f"{type(left).__name__} of size {_size(left)} != {type(right).__name__} of size {_size(right)}",
            _first_difference(left, right)]


# The tfsynth_renders builder's "tiny" config, as generate's flags.
TFDS_TINY_FLAGS = ["--num_images=8", "--validation_images=4", "--width=64", "--height=48", "--preset=fast",
                   "--seed=0"]


@pytest.fixture(scope="session")
def tfds_tiny(tmp_path_factory):
    """(TFDS data_dir after `tfds build tfsynth_renders --config tiny`, generate's output folder for the same
    renders: OD API shards and label_map.pbtxt)."""
    data_dir = tmp_path_factory.mktemp("tfds")
    build = run_module("tensorflow_datasets.scripts.cli.main", "build", "tfsynth_renders", "--config", "tiny",
                       "--imports", "tfsynth.datasets", "--data_dir", str(data_dir), "--beam_pipeline_options",
                       "direct_running_mode=multi_processing,direct_num_workers=2", timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    out = tmp_path_factory.mktemp("generate")
    generate = run_module("tfsynth.generate", f"--output_dir={out}", "--num_shards=1", "--num_workers=1",
                          *TFDS_TINY_FLAGS, timeout=600)
    assert generate.returncode == 0, generate.stderr[-3000:]
    return data_dir, out
