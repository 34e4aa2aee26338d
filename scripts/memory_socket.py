"""A websocket stand-in that serves recorded frames from memory, for scripts/bench_ingest.py's
ALONE run: the pipeline's cost without the websockets library or an exchange."""

from __future__ import annotations

import asyncio

from websockets.exceptions import ConnectionClosed


class MemorySocket:
    """What MarketStreamClient uses of a websocket, serving the recorded frames from memory.

    recv() hands out frames without suspending, as websockets does while its queue holds frames,
    and yields to the event loop every FRAMES_PER_READ, about what one socket read brings."""

    FRAMES_PER_READ = 512

    def __init__(self, frames: list[bytes]) -> None:
        self._frames = iter(frames)
        self._handed_out = 0
        self._closed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason = ""

    async def recv(self, decode: bool | None = None) -> bytes:
        self._handed_out += 1
        if self._handed_out % self.FRAMES_PER_READ == 0:
            await asyncio.sleep(0)
        frame = next(self._frames, None)
        if frame is None:  # the recording is over: a quiet stream until closed
            await self._closed.wait()
            raise ConnectionClosed(None, None)
        return frame

    async def send(self, text: str) -> None:
        return None  # the one stream URL subscribes everything; no SUBSCRIBE is sent

    async def close(self) -> None:
        self.close_code = 1000
        self._closed.set()
