"""The replay cursor: the exchange's one global "now", moving through the merged timeline and
handing each event to the connections subscribed to its stream as it passes."""

from __future__ import annotations

import asyncio

import structlog

from bot.clock import Clock
from bot.sim.connection import StreamConnection
from bot.sim.counters import ExchangeCounters
from bot.sim.faults import FaultState, malformed_frame
from bot.sim.settings import ReplaySettings
from bot.sim.stream_server import StreamServer
from bot.sim.timeline import Timeline

log = structlog.get_logger(__name__)

_YIELD_EVERY = 1024  # events between forced yields, so a long quiet stretch cannot starve the loop


class ReplayCursor:
    def __init__(
        self,
        settings: ReplaySettings,
        timeline: Timeline,
        server: StreamServer,
        faults: FaultState,
        counters: ExchangeCounters,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.timeline = timeline
        self.server = server
        self.faults = faults
        self.counters = counters
        self.clock = clock
        self.position = 0  # events the cursor has passed; REST shows records below it
        self.passes_completed = 0
        self.finished = asyncio.Event()
        self._wake = asyncio.Event()
        self._outage_until_ns: int | None = None
        self._rewind_to: int | None = None
        self._started = False

    def wake(self) -> None:
        self._wake.set()

    def begin_outage(self, outage_ns: int) -> None:
        """After a forced drop the exchange keeps going for outage_ns of timeline time even with
        nobody connected: what happens then is lost to the stream and only REST can bring it back."""
        if not self.timeline.times_ns:
            return
        index = min(self.position, len(self.timeline) - 1)
        self._outage_until_ns = self.timeline.times_ns[index] + outage_ns
        self._started = True  # a paced replay starts too
        self._wake.set()

    def rewind(self, position: int) -> None:
        """Max mode only: go back to an event that a dropped connection was never sent."""
        self._rewind_to = position if self._rewind_to is None else min(self._rewind_to, position)
        self._wake.set()

    def current_time_ns(self) -> int:
        times = self.timeline.times_ns
        return times[min(self.position, len(times) - 1)] if times else 0

    async def run(self) -> None:
        while True:
            if self.settings.speed is None:
                await self._run_max_speed()
            else:
                await self._run_paced(self.settings.speed)
            if not self.settings.loop or not len(self.timeline):
                self.finished.set()
                log.info("sim.replay.finished", events=len(self.timeline))
                return
            self.passes_completed += 1
            self.position = 0

    def _may_run_unsubscribed(self, position: int) -> bool:
        if self._outage_until_ns is None:
            return False
        if self.timeline.times_ns[position] < self._outage_until_ns:
            return True
        self._outage_until_ns = None
        return False

    async def _run_max_speed(self) -> None:
        """Events go out as fast as the slowest subscribed connection reads them. While nobody is
        subscribed the cursor waits, so a test's reconnect does not lose the rest of the file."""
        streams = self.timeline.streams
        count = len(self.timeline)
        server = self.server
        subscribers = server.subscribers
        faults = self.faults
        high_water = self.settings.send_buffer_frames
        position = self.position
        while position < count:
            if self._rewind_to is not None:
                position = self.position = min(position, self._rewind_to)
                self._rewind_to = None
            if server.subscription_count == 0 and not self._may_run_unsubscribed(position):
                self._wake.clear()
                if server.subscription_count == 0:
                    await self._wake.wait()
                continue
            stream = streams[position]
            if stream is not None:
                connections = subscribers.get(stream)
                if connections:
                    if faults.affects_dispatch:
                        connections = self._apply_faults(position, stream, connections)
                    for connection in connections:
                        connection.push(position)
                        if len(connection.backlog) >= high_water:
                            await connection.wait_for_space()
            position += 1
            self.position = position
            if not position % _YIELD_EVERY:
                await asyncio.sleep(0)

    async def _run_paced(self, speed: float) -> None:
        """Events go out at their recorded spacing divided by speed. The clock starts with the
        first subscription and then never waits for anyone, like a live exchange."""
        while not self._started and self.server.subscription_count == 0:
            self._wake.clear()
            await self._wake.wait()
        self._started = True
        times = self.timeline.times_ns
        streams = self.timeline.streams
        count = len(self.timeline)
        subscribers = self.server.subscribers
        max_backlog = self.settings.max_backlog_frames
        max_gap_ns = None if self.settings.max_gap_s is None else int(self.settings.max_gap_s * 1e9)
        position = self.position
        if position >= count:
            return
        anchor_wall_ns = self.clock.now_ns()
        anchor_time_ns = previous_ns = times[position]
        while position < count:
            time_ns = times[position]
            if max_gap_ns is not None and time_ns - previous_ns > max_gap_ns:
                anchor_time_ns += time_ns - previous_ns - max_gap_ns
            previous_ns = time_ns
            delay_ns = anchor_wall_ns + int((time_ns - anchor_time_ns) / speed) - self.clock.now_ns()
            if delay_ns > 0:
                await asyncio.sleep(delay_ns / 1e9)
            stream = streams[position]
            if stream is not None:
                connections = subscribers.get(stream)
                if connections:
                    if self.faults.affects_dispatch:
                        connections = self._apply_faults(position, stream, connections)
                    for connection in connections:
                        connection.push(position)
                        if len(connection.backlog) > max_backlog:
                            self.server.drop_slow_consumer(connection)
            position += 1
            self.position = position
            if not position % _YIELD_EVERY:
                await asyncio.sleep(0)

    def _apply_faults(
        self, position: int, stream: str, connections: tuple[StreamConnection, ...]
    ) -> tuple[StreamConnection, ...]:
        timeline = self.timeline
        if self.faults.withhold(stream, timeline.item_ids[position], timeline.times_ns[position]):
            self.counters.frames_withheld_by_fault[stream] += len(connections)
            return ()
        pending = self.faults.take_malformed(stream)
        if pending is not None:
            kind, replace = pending
            frame = malformed_frame(kind, stream, timeline.frames[position], timeline.data_offsets[position])
            self.server.inject(connections, frame)
            if replace:
                return ()
        return connections
