"""A probe of event-loop stalls: how late a 1 ms sleep wakes up, at worst.

Anything that blocks the loop (a model parsed on the loop's thread, a slow callback) delays
every timer; a task that sleeps `interval` over and over and records how late it woke measures
that directly. `measure_swap_stall` loads and swaps a stored version under the probe, the way the
daemon's watcher does, for the nightly benchmark (scripts/bench_nightly.py) to report.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from bot.models.holder import ModelHolder
from bot.models.registry import ModelRegistry


class LoopLagProbe:
    """`async with LoopLagProbe() as probe: ...` then `probe.worst_seconds`."""

    def __init__(self, interval_seconds: float = 0.001) -> None:
        self.interval_seconds = interval_seconds
        self.worst_seconds = 0.0
        self.samples = 0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        interval = self.interval_seconds
        while True:
            started = time.perf_counter()
            await asyncio.sleep(interval)
            lateness = time.perf_counter() - started - interval
            self.samples += 1
            if lateness > self.worst_seconds:
                self.worst_seconds = lateness

    async def __aenter__(self) -> LoopLagProbe:
        self._task = asyncio.create_task(self._run(), name="loop-lag-probe")
        await asyncio.sleep(0)  # let the probe take its first timestamp
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.sleep(self.interval_seconds * 2)  # a stall at the very end still gets measured
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@dataclass(frozen=True)
class SwapStall:
    version: str
    load_seconds: float  # off the loop, in a worker thread
    worst_loop_lag_seconds: float  # the longest the loop was held up meanwhile
    probe_samples: int


async def measure_swap_stall(root: str | Path, name: str, version: str) -> SwapStall:
    """Load `version` of `name` off the loop and swap it into a fresh holder, as the watcher does,
    with the loop-lag probe running; returns the probe's worst lateness."""
    from bot.models.watcher import load_off_loop  # the watcher's own path, not a copy of it

    registry = ModelRegistry(root)
    holder = ModelHolder(name)
    async with LoopLagProbe() as probe:
        started = time.perf_counter()
        model = await load_off_loop(registry, name, version)
        holder.swap(model)
        load_seconds = time.perf_counter() - started
    return SwapStall(version, load_seconds, probe.worst_seconds, probe.samples)
