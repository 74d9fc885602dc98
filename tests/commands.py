"""Running the project's commands from tests, as a user runs them: a separate process, output captured as text.

Each command starts its own session, so that a timeout kills its whole process group. subprocess.run kills the
command alone: a generation pool's workers, or a training step's evaluation, would live on as orphans and take the
CPU from every later test. A timeout fails the test naming the command, with the end of its output.
"""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys

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
