"""The websocket relay process: receives websocket frames on its own CPU core and passes them on.

Receiving a frame with the `websockets` library (parsing, unmasking, its asyncio queues) costs
more CPU than everything else ingest does with it, so `bot.ingest.relay.WebsocketRelay` runs the
websockets here, in a child process, and the ingest process gets the frames in bulk through a pipe:
a few microseconds of work per frame move to the second core.

Protocol, stdin (commands, one JSON object per line):
    {"op": "open", "id": N, "url": "...", "options": {...websockets connect() keywords...}}
    {"op": "send", "id": N, "text": "..."}
    {"op": "close", "id": N}
stdout (records: a HEADER, then `length` bytes of payload):
    FRAME   ts = receive time (ns since the epoch, this process's wall clock), payload = the frame
    OPENED  the connection is open
    FAILED  payload = JSON {"type", "message", "status"}: why connect() failed
    CLOSED  payload = JSON {"code", "reason"}: the connection ended; no more records for N
End of stdin means the parent is gone: every connection is closed and the process exits.
"""

from __future__ import annotations

import asyncio
import json
import struct
import sys
import time

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

HEADER = struct.Struct("<BIqI")  # kind, connection id, time (ns), payload length
FRAME, OPENED, FAILED, CLOSED = 1, 2, 3, 4
_HIGH_WATER = 64 * 1024  # bytes buffered for the parent before receiving pauses (a few hundred frames)


class _Output(asyncio.Protocol):
    """stdout, flow-controlled: frames are collected and written once per event-loop pass, so a
    burst of frames costs one write, and receiving waits while the parent is behind."""

    def __init__(self) -> None:
        self.transport: asyncio.WriteTransport | None = None
        self._parts: list[bytes] = []
        self._writable = asyncio.Event()
        self._writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=_HIGH_WATER)  # type: ignore[union-attr]

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._writable.set()

    def record(self, kind: int, connection: int, ts: int, payload: bytes) -> None:
        if not self._parts:
            asyncio.get_running_loop().call_soon(self._flush)
        self._parts.append(HEADER.pack(kind, connection, ts, len(payload)))
        self._parts.append(payload)

    def _flush(self) -> None:
        parts, self._parts = self._parts, []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(parts))

    async def writable(self) -> None:
        await self._writable.wait()


def _describe(error: BaseException) -> bytes:
    status = error.response.status_code if isinstance(error, InvalidStatus) else None
    return json.dumps({"type": type(error).__name__, "message": str(error), "status": status}).encode()


async def _serve(identifier: int, url: str, options: dict, output: _Output, sockets: dict[int, ClientConnection]) -> None:
    try:
        websocket = await connect(url, **options)
    except Exception as error:  # told to the parent, which decides whether to retry
        output.record(FAILED, identifier, 0, _describe(error))
        return
    sockets[identifier] = websocket
    output.record(OPENED, identifier, 0, b"")
    record = output.record
    now_ns = time.time_ns
    try:
        while True:
            frame = await websocket.recv(decode=False)
            record(FRAME, identifier, now_ns(), frame)
            if not output._writable.is_set():
                await output.writable()
    except ConnectionClosed:
        pass
    finally:
        sockets.pop(identifier, None)
        output.record(CLOSED, identifier, 0, json.dumps({"code": websocket.close_code, "reason": websocket.close_reason}).encode())


async def _send(websocket: ClientConnection | None, text: str) -> None:
    if websocket is not None:
        try:
            await websocket.send(text)
        except ConnectionClosed:
            pass  # the CLOSED record tells the parent


async def main() -> None:
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    _, output = await loop.connect_write_pipe(_Output, sys.stdout)
    sockets: dict[int, ClientConnection] = {}
    tasks: set[asyncio.Task[None]] = set()

    def spawn(coroutine) -> None:  # type: ignore[no-untyped-def]
        task = loop.create_task(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    while line := await commands.readline():
        command = json.loads(line)
        identifier = command["id"]
        if command["op"] == "open":
            spawn(_serve(identifier, command["url"], command["options"], output, sockets))
        elif command["op"] == "send":
            spawn(_send(sockets.get(identifier), command["text"]))
        elif command["op"] == "close" and identifier in sockets:
            spawn(sockets[identifier].close())
    for websocket in list(sockets.values()):
        spawn(websocket.close())
    await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
