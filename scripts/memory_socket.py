"""A websocket stand-in that serves recorded frames from memory, for scripts/bench_ingest.py's
ALONE run: the pipeline's cost without the websockets library or an exchange."""

from __future__ import annotations

import asyncio

from bot.ingest.push_connection import PushConnectionFactory


class MemorySocket:
    """What MarketStreamClient uses of its PushConnection, pushing the recorded frames from memory.

    Frames go to on_message FRAMES_PER_READ at a time, one event-loop callback each, about what
    one socket read brings; pause_reading / resume_reading hold the pushing as they would hold a
    socket's reads."""

    FRAMES_PER_READ = 512

    def __init__(self, frames: list[bytes], factory: PushConnectionFactory) -> None:
        self._frames = iter(frames)
        self._on_message = factory.on_message
        self._now_ns = factory.now_ns
        self._loop = asyncio.get_running_loop()
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._paused = False
        self._scheduled = False
        self.transport = self  # pause_reading / resume_reading are asked of the transport
        self.failure: BaseException | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        factory.created(self)  # type: ignore[arg-type]
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled and not self._paused and not self._closed.done():
            self._scheduled = True
            self._loop.call_soon(self._push)

    def _push(self) -> None:
        self._scheduled = False
        received_ns = self._now_ns()  # one clock reading per "read", one ns more per frame: as PushConnection
        for _ in range(self.FRAMES_PER_READ):
            if self._paused or self._closed.done():
                return
            frame = next(self._frames, None)
            if frame is None:  # the recording is over: a quiet stream until closed
                return
            if frame:
                self._on_message(frame, received_ns)
                received_ns += 1
        self._schedule()

    def pause_reading(self) -> None:
        self._paused = True

    def resume_reading(self) -> None:
        self._paused = False
        self._schedule()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    async def send(self, text: str) -> None:
        return None  # the one stream URL subscribes everything; no SUBSCRIBE is sent

    async def close(self) -> None:
        self.close_code = 1000
        if not self._closed.done():
            self._closed.set_result(None)
