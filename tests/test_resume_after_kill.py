"""kill -9 in the middle of a long job, then the same command again: the output is byte for byte what an
uninterrupted run writes (issue 15). Real commands as subprocesses, tiny sizes."""
from __future__ import annotations

import glob
import os
import pathlib
import signal
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]


def _files(folder: pathlib.Path, pattern: str) -> dict[str, bytes]:
    return {os.path.basename(p): pathlib.Path(p).read_bytes() for p in sorted(glob.glob(str(folder / pattern)))}


def _kill_when(command: list[str], ready, timeout_s: float = 300.0) -> None:
    """Starts `command` in its own process group and kills the whole group with SIGKILL as soon as ready()."""
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    deadline = time.monotonic() + timeout_s
    try:
        while not ready():
            assert process.poll() is None, f"finished before it could be killed: {process.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline, "never reached the point to kill it"
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL


def _generate(output_dir: pathlib.Path) -> list[str]:
    return [sys.executable, "-m", "tfsynth.generate", f"--output_dir={output_dir}", "--num_images=60",
            "--validation_images=6", "--num_workers=2", "--preset=fast", "--width=64", "--height=48",
            "--num_shards=3", "--products_per_image=3,6", "--seed=11"]


def test_generation_killed_then_resumed_writes_the_same_bytes(tmp_path):
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    subprocess.run(_generate(whole), cwd=REPO, check=True, capture_output=True, timeout=600)

    def some_chunks_done() -> bool:
        return len(glob.glob(str(resumed / ".chunks" / "*" / "*.npz"))) >= 1

    _kill_when(_generate(resumed), some_chunks_done)
    assert not (resumed / "manifest.json").exists(), "killed too late: the run had finished"
    result = subprocess.run(_generate(resumed), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = _files(whole, "*.tfrecord")
    assert sum(name.startswith("train-") for name in expected) == 3 and any(n.startswith("val-") for n in expected)
    assert _files(resumed, "*.tfrecord") == expected
    for name in ("label_map.pbtxt", "train_coco.json", "val_coco.json"):
        assert (resumed / name).read_bytes() == (whole / name).read_bytes(), name
    assert not (resumed / ".chunks").exists()
