"""Clocks. Everything that needs the time takes a Clock; nothing else reads the wall clock.

Time is integer nanoseconds since the Unix epoch everywhere in the project.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Current time in integer nanoseconds since the Unix epoch."""
        ...


class WallClock:
    """The live clock. The only place that reads the system time."""

    def now_ns(self) -> int:
        return time.time_ns()


class ManualClock:
    """A clock that moves only when told to: backtests, replays and tests."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now_ns = start_ns

    def now_ns(self) -> int:
        return self._now_ns

    def set(self, now_ns: int) -> None:
        if now_ns < self._now_ns:
            raise ValueError(f"a clock never runs backwards: {now_ns} < {self._now_ns}")
        self._now_ns = now_ns

    def advance(self, delta_ns: int) -> None:
        self.set(self._now_ns + delta_ns)


class MonotonicClock:
    """A clock that never jumps (NTP steps the wall clock): for pacing, rate limits and time-outs,
    never for timestamps. Its epoch is arbitrary."""

    def now_ns(self) -> int:
        return time.monotonic_ns()
