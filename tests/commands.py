"""Running the project's commands from tests, as a user runs them: a separate process, output captured as text.

Each command starts its own session, so that a timeout kills its whole process group. subprocess.run kills the
command alone: a generation pool's workers, or a training step's evaluation, would live on as orphans and take the
CPU from every later test. A timeout fails the test naming the command, with the end of its output.
"""
from __future__ import annotations

import os
import pathlib
import glob
import signal
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent


def run_command(argv: list[str], timeout: float = 300, env: dict | None = None,
                cwd: str | os.PathLike = REPO) -> subprocess.CompletedProcess:
    """Runs argv; returns its exit status and text output. Past `timeout` seconds its process group is killed and
    the test fails naming the command."""
    process = subprocess.Popen([str(part) for part in argv], cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"{' '.join(map(str, argv))} ran past {timeout} s and was killed; its last output:\n"
                    f"{stderr[-3000:]}")
    finally:
        if process.poll() is None:  # interrupted (Ctrl-C): leave no workers behind
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def run_module(module: str, *args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs `python -m module args` with this interpreter (see run_command)."""
    return run_command([sys.executable, "-m", module, *args], timeout=timeout, env=env)


def run_python(code: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs `python -c code args` with this interpreter (see run_command)."""
    return run_command([sys.executable, "-c", code, *args], timeout=timeout)


def spawned_children(pid: int) -> list[int]:
    """The processes whose parent is `pid` and that run multiprocessing's spawn entry point: a pool's render
    workers, not its resource tracker (Linux /proc)."""
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            parent = int(pathlib.Path(stat).read_text().rsplit(")", 1)[1].split()[1])
            child = int(stat.split("/")[2])
            if parent == pid and b"spawn_main" in pathlib.Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except (OSError, IndexError, ValueError):  # ended while listed
            continue
    return found


def run_killing_a_worker(argv: list[str], ready, timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs argv (its own session) and, once ready() holds and it has a spawned child, kills that child with
    SIGKILL, as a crash in the GL driver would; returns its exit status and stderr after it ended by itself.
    Past `timeout` seconds in all, the test fails and the command's process group is killed."""
    process = subprocess.Popen([str(part) for part in argv], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not (ready() and (children := spawned_children(process.pid))):
            assert process.poll() is None and time.monotonic() < deadline, \
                f"{' '.join(map(str, argv))}: ended or ran past {timeout} s before a worker could be killed"
            time.sleep(0.05)
        os.kill(children[0], signal.SIGKILL)
        _, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return subprocess.CompletedProcess(argv, process.returncode, "", stderr)
