"""Running the project's commands from tests, as a user runs them: a separate process, output captured as text.

Each command starts its own session, so that a timeout kills its whole process group. subprocess.run kills the
command alone: a generation pool's workers, or a training step's evaluation, would live on as orphans and take the
CPU from every later test. A timeout fails the test naming the command, with the end of its output.
"""
from __future__ import annotations

import glob
import os
import pathlib
import signal
import subprocess
import sys
import time
from typing import Iterator

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
        stdout, stderr = _kill_group(process)
        pytest.fail(f"{' '.join(map(str, argv))} ran past {timeout} s and was killed; its last output:\n"
                    f"{stderr[-3000:]}")
    finally:
        if process.poll() is None:  # interrupted (Ctrl-C): leave no workers behind
            _kill_group(process)
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def _processes() -> Iterator[tuple[int, str, int, int]]:
    """(pid, state, parent pid, process group) of every process (Linux /proc); one that ends while listed is left
    out. The name field may hold spaces and parentheses, so the fields are read after its last ')'."""
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            state, parent, group = pathlib.Path(stat).read_text().rsplit(")", 1)[1].split()[:3]
            yield int(stat.split("/")[2]), state, int(parent), int(group)
        except (OSError, IndexError, ValueError):  # ended while listed
            continue


def _group_members(group: int) -> list[int]:
    """The processes of process group `group` that have not exited (zombies count as exited)."""
    return [pid for pid, state, _, process_group in _processes() if process_group == group and state not in "ZX"]


def _kill_group(process: subprocess.Popen, grace: float = 30) -> tuple[str, str]:
    """Sends SIGKILL to the process group `process` leads and returns what is left of its output once every member
    is gone. SIGKILL is delivered at once but a process takes a moment to exit: its pipes close before it is
    marked a zombie, so a caller that looks right after communicate() could still see a child running. Waits at
    most `grace` seconds in all: a descendant that left the group but holds the pipes must not hang the test."""
    deadline = time.monotonic() + grace
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:  # the whole group ended by itself in between
        pass
    try:
        output = process.communicate(timeout=grace)
    except subprocess.TimeoutExpired as expired:
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        process.wait()
        output = tuple(_text(part) for part in (expired.output, expired.stderr))
    while _group_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return output


def _text(output) -> str:
    """What subprocess read before a timeout: bytes even in text mode, or None."""
    return output.decode(errors="replace") if isinstance(output, bytes) else (output or "")


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
    for child, _, parent, _ in _processes():
        if parent != pid:
            continue
        try:
            if b"spawn_main" in pathlib.Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:  # ended while listed
            continue
    return found


def _start(argv: list[str]) -> subprocess.Popen:
    """argv started in its own session (so its whole process group can be killed), stderr captured as text."""
    return subprocess.Popen([str(part) for part in argv], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_until(process: subprocess.Popen, condition, deadline: float, argv: list[str]) -> None:
    """Polls condition() until it holds; fails the test if the process ends first or the deadline passes."""
    while not condition():
        assert process.poll() is None, \
            f"{' '.join(map(str, argv))}: finished before it could be killed: {process.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, f"{' '.join(map(str, argv))}: never reached the point to kill it"
        time.sleep(0.05)


def _end(process: subprocess.Popen) -> None:
    """Leaves nothing of the command running: its process group is killed while any of it is alive (the command
    may have ended by itself and left workers behind)."""
    if process.poll() is None or _group_members(process.pid):
        _kill_group(process)
    process.wait()


def run_killed_when(argv: list[str], ready, timeout: float = 600) -> None:
    """Runs argv (its own session) and kills its whole process group with SIGKILL as soon as ready() holds, as a
    kill -9 of the job would. Fails the test if it ends first or ready() does not hold within `timeout` seconds."""
    process = _start(argv)
    try:
        _wait_until(process, ready, time.monotonic() + timeout, argv)
    finally:
        _end(process)
    assert process.returncode == -signal.SIGKILL


def run_killing_a_worker(argv: list[str], ready, timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs argv (its own session) and, once ready() holds and it has a spawned child, kills that child with
    SIGKILL, as a crash in the GL driver would; returns its exit status and stderr after it ended by itself.
    Past `timeout` seconds in all, the test fails and the command's process group is killed."""
    process = _start(argv)
    children: list[int] = []

    def worker_found() -> bool:
        children[:] = spawned_children(process.pid) if ready() else []
        return bool(children)

    try:
        _wait_until(process, worker_found, time.monotonic() + timeout, argv)
        os.kill(children[0], signal.SIGKILL)
        _, stderr = process.communicate(timeout=timeout)
    finally:
        _end(process)
    return subprocess.CompletedProcess(argv, process.returncode, "", stderr)
