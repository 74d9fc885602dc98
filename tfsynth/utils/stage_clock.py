"""Where the time of a repeated piece of work goes: seconds summed per named stage, for benchmarks."""
from __future__ import annotations

import time
from typing import Callable, Optional


class StageClock:
    """lap(name) adds the seconds since the previous lap (or since the clock was made) to stage_seconds[name].

    stage_seconds None: every lap does nothing, so the clock can stay in code that runs when nobody measures.
    before_lap: called at each lap before the time is read, only when measuring (a renderer waits there for the GL
    to finish the stage, whose commands otherwise run on after the call returns)."""

    def __init__(self, stage_seconds: Optional[dict[str, float]], before_lap: Optional[Callable[[], object]] = None):
        self.stage_seconds = stage_seconds
        self.before_lap = before_lap
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        if self.stage_seconds is None:
            return
        if self.before_lap is not None:
            self.before_lap()
        now = time.perf_counter()
        self.stage_seconds[name] = self.stage_seconds.get(name, 0.0) + now - self.last
        self.last = now
