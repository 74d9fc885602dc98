"""Resumable steps of a study: each one command, skipped when its done marker exists (run_step), with its wall time
summed over every attempt (the attempt clock), and refused when its folder holds the output of other settings."""
from __future__ import annotations

import hashlib
import json
import pathlib
import subprocess
import sys
import threading
import time

from absl import logging

from tfsynth.studies.spec import REPO_ROOT, StudyError
from tfsynth.utils.files import write_atomically


class _AttemptClock:
    """The seconds a step has run over all its attempts, kept in a file beside its folder while it runs.

    A killed or interrupted step resumes in a later attempt; without this its recorded wall time would count the last
    attempt only. A thread rewrites the file every `interval` seconds, so at most that much is lost to a hard kill.
    """

    def __init__(self, done_marker: pathlib.Path, interval: float = 30.0):
        # Beside the step's folder, not in it, as the record of its settings: the command makes its folder.
        folder = done_marker.parent
        self.path = folder.with_name(f".{folder.name}.seconds")
        self.interval = interval
        self.earlier = self._read()
        self.start = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _read(self) -> float:
        try:
            return float(json.loads(self.path.read_text())["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0.0

    def total(self) -> float:
        return self.earlier + time.time() - self.start

    def save(self) -> None:
        write_atomically(self.path, json.dumps({"seconds": self.total()}) + "\n")

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            self.save()

    def __enter__(self) -> "_AttemptClock":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        self.save()


def step_fingerprint(command: list[str], inputs: tuple[str, ...] = ()) -> str:
    """A digest of what a step's output depends on: its command, and the contents of the files it reads whose paths
    alone do not say what they hold (a pipeline.config rewritten for each run, a label map edited in place)."""
    digest = hashlib.sha256(json.dumps(command).encode())
    for path in inputs:
        digest.update(b"\0" + pathlib.Path(path).read_bytes())
    return digest.hexdigest()


def _check_same_settings(name: str, folder: pathlib.Path, recorded_in: pathlib.Path, fingerprint: str,
                         inputs: tuple[str, ...]) -> None:
    """Refuses to skip or resume a step whose folder was made with other settings (a changed step count, label map,
    class_init or catalog under the same --output_dir): its output would silently stand for the new settings."""
    try:
        recorded = json.loads(recorded_in.read_text()).get("fingerprint")
    except (OSError, ValueError, AttributeError):  # none recorded (an older version's marker): nothing to compare
        return
    if recorded is not None and recorded != fingerprint:
        depends_on = "its command" + "".join(f", {path}" for path in inputs)
        raise StudyError(f"step '{name}': {folder} holds the output of other settings (it depends on "
                         f"{depends_on}, which changed since it was made); remove {folder} to redo it, "
                         "or choose another --output_dir")


def run_step(name: str, done_marker: pathlib.Path, command: list[str], clock_interval: float = 30.0,
             inputs: tuple[str, ...] = ()) -> float:
    """Runs one step's command unless its done marker exists; returns its wall time in seconds, summed over every
    attempt when an earlier one was interrupted (for a step done earlier, the time its marker recorded, so a resumed
    study still reports every step's time). `inputs` are files the output depends on beyond the command's words:
    a step made with another command or other file contents is refused, done or half done."""
    fingerprint = step_fingerprint(command, inputs)
    folder = done_marker.parent
    # Beside the step's folder, not in it: a command may refuse a folder that exists before it runs.
    started = folder.with_name(f".{folder.name}.inputs")
    if done_marker.exists():
        _check_same_settings(name, folder, done_marker, fingerprint, inputs)
        logging.info("[%s] complete, skipped (%s exists)", name, done_marker)
        try:
            return float(json.loads(done_marker.read_text()).get("seconds", 0.0))
        except (ValueError, AttributeError):  # a marker from an older version: plain text
            return 0.0
    if started.exists():  # an attempt was interrupted: resume it only under the same settings
        _check_same_settings(name, folder, started, fingerprint, inputs)
    write_atomically(started, json.dumps({"fingerprint": fingerprint}) + "\n")
    logging.info("[%s] %s", name, " ".join(command))
    with _AttemptClock(done_marker, clock_interval) as clock:
        completed = subprocess.run(command, cwd=REPO_ROOT)
    if completed.returncode != 0:
        raise SystemExit(f"step '{name}' failed (exit {completed.returncode}): {' '.join(command)}")
    elapsed = clock.total()
    write_atomically(done_marker, json.dumps({"command": command, "seconds": elapsed,
                                              "fingerprint": fingerprint}) + "\n")
    clock.path.unlink(missing_ok=True)
    started.unlink(missing_ok=True)
    return elapsed


def python_module(module: str, *args: str) -> list[str]:
    """The command that runs `python -m module args` with this interpreter."""
    return [sys.executable, "-m", module, *args]
