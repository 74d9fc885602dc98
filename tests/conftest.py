"""Suite-wide: the shared data the tests read (OD API reference configs and goldens, the real photos, the Unity
SOLO sample) must be there. Its absence fails the run at once instead of skipping the tests that need it, so CI
on a machine without ../shared never reports a pass for checks it did not make."""
from __future__ import annotations

import pytest

from tfsynth.utils.shared_data import SHARED_DATA

_REQUIRED = ("odapi_reference", "real/cntk_fridge_us", "unity_solo_sample")


def pytest_configure(config: pytest.Config) -> None:
    missing = [name for name in _REQUIRED if not (SHARED_DATA / name).is_dir()]
    if missing:
        raise pytest.UsageError(f"shared test data missing under {SHARED_DATA}: {missing}; put the project's shared/ "
                                "folder beside the repository or set TFSYNTH_SHARED_DATA to its data/ folder")
