"""Where the project's shared data lies: ../shared/data beside the repository, or $TFSYNTH_SHARED_DATA.

Found relative to the checkout, never by an absolute path of one machine, so tests, benchmarks and the default
study run from a checkout anywhere.
"""
from __future__ import annotations

import os
import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED_DATA = pathlib.Path(os.environ.get("TFSYNTH_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data")
