"""The websocket relay process: receives the market-data websockets on a CPU core of its own.

Parsing websocket frames (the `websockets` library, its asyncio transport) is about a quarter of
what ingest spends on a message. `bot.ingest.relay.WebsocketRelay` starts this module as a child
process (`python -m bot.ingest.relay_process`); it opens the connections the stream client asks
for, answers pings, and passes every message on through its stdout in bulk, so the ingest process
reads a few hundred messages with one pipe read and spends its own core on decoding, sequencing
and writing.

Commands, stdin, one JSON object a line:
    {"op": "open", "id": N, "url": "...", "options": {...websockets connect() keywords...}}
    {"op": "send", "id": N, "text": "..."}
    {"op": "pause", "id": N} / {"op": "resume", "id": N}   the parent's backpressure
    {"op": "close", "id": N}                                the close handshake
    {"op": "abort", "id": N}                                drop the TCP connection at once
Records, stdout: RECORD_HEADER, then `length` bytes of payload:
    MESSAGE  ts = receive time (ns since the epoch, wall clock), payload = the message
    OPENED   the handshake succeeded
    FAILED   payload = JSON {"type", "message", "status"}: why connect() failed
    CLOSED   payload = JSON {"code", "reason"}: the connection ended; nothing more comes for N
End of stdin (the parent closed it, or died) closes every connection and ends the process.

Flow control: the output's write buffer has a high-water mark; past it every connection stops
reading its socket until the parent has read the pipe down, so the frames in flight between the
exchange and the ingest process stay bounded (TCP pushes back on the exchange, as it does when
the socket is read in the ingest process itself).
"""

from __future__ import annotations

import asyncio
import json
import signal
import struct
import sys
import time
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bot.ingest.push_connection import PushConnection, PushConnectionFactory

RECORD_HEADER = struct.Struct("<BIqI")  # kind, connection id, time (ns), payload length
MESSAGE, OPENED, FAILED, CLOSED = 1, 2, 3, 4
# Bytes waiting for the parent before the sockets stop being read: with the pipe's own 64 KB,
# a few hundred messages in flight, enough to keep the parent busy while this side waits.
_OUTPUT_HIGH_WATER = 128 * 1024


class _Output(asyncio.Protocol):
    """stdout. Records are gathered and written once per event-loop pass: a socket read's worth
    of messages costs one pipe write."""

    def __init__(self, relay: _Relay) -> None:
        self._relay = relay
        self.transport: asyncio.WriteTransport | None = None
        self._parts: list[bytes] = []
        self.full = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=_OUTPUT_HIGH_WATER)  # type: ignore[union-attr]

    def pause_writing(self) -> None:
        self.full = True
        self._relay.apply_flow()

    def resume_writing(self) -> None:
        self.full = False
        self._relay.apply_flow()

    def connection_lost(self, exc: Exception | None) -> None:  # the parent is gone
        self.transport = None
        self._relay.parent_gone.set()

    def record(self, kind: int, identifier: int, ts: int, payload: bytes) -> None:
        parts = self._parts
        if not parts:
            asyncio.get_running_loop().call_soon(self._flush)
        parts.append(RECORD_HEADER.pack(kind, identifier, ts, len(payload)))
        parts.append(payload)

    def _flush(self) -> None:
        parts, self._parts = self._parts, []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(parts))


class _Relay:
    def __init__(self) -> None:
        self.output = _Output(self)
        self.sockets: dict[int, PushConnection] = {}
        self.paused_by_parent: set[int] = set()
        self.parent_gone = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def apply_flow(self) -> None:
        for identifier, websocket in self.sockets.items():
            self._apply(identifier, websocket)

    def _apply(self, identifier: int, websocket: PushConnection) -> None:
        transport = websocket.transport
        if transport is None or transport.is_closing():
            return
        if self.output.full or identifier in self.paused_by_parent:
            transport.pause_reading()
        else:
            transport.resume_reading()

    async def serve(self, identifier: int, url: str, options: dict[str, Any]) -> None:
        record = self.output.record

        def created(websocket: PushConnection) -> None:
            self.sockets[identifier] = websocket

        def on_message(data: bytes, received_ns: int) -> None:
            record(MESSAGE, identifier, received_ns, data)

        try:
            websocket = await connect(url, create_connection=PushConnectionFactory(on_message, time.time_ns, created), **options)  # type: ignore[arg-type]
        except Exception as error:  # told to the parent, which decides whether to retry
            self.sockets.pop(identifier, None)
            record(FAILED, identifier, 0, _describe(error))
            return
        record(OPENED, identifier, 0, b"")
        self._apply(identifier, websocket)
        try:
            await websocket.wait_closed()
        finally:
            self.sockets.pop(identifier, None)
            self.paused_by_parent.discard(identifier)
            detail = {"code": websocket.close_code, "reason": websocket.close_reason or ""}
            record(CLOSED, identifier, 0, json.dumps(detail).encode())

    async def send(self, identifier: int, text: str) -> None:
        websocket = self.sockets.get(identifier)
        if websocket is not None:
            try:
                await websocket.send(text)
            except ConnectionClosed:
                pass  # the CLOSED record tells the parent

    async def close(self, identifier: int) -> None:
        websocket = self.sockets.get(identifier)
        if websocket is not None:
            # The close handshake needs the exchange's close frame, behind what it sent before:
            # read on (the parent drops what it no longer wants) rather than wait out the timeout.
            self.paused_by_parent.discard(identifier)
            self._apply(identifier, websocket)
            await websocket.close()

    def handle(self, command: dict[str, Any]) -> None:
        identifier = command["id"]
        operation = command["op"]
        if operation == "open":
            self.spawn(self.serve(identifier, command["url"], command["options"]))
        elif operation == "send":
            self.spawn(self.send(identifier, command["text"]))
        elif operation == "close":
            self.spawn(self.close(identifier))
        elif operation in ("pause", "resume"):
            if operation == "pause":
                self.paused_by_parent.add(identifier)
            else:
                self.paused_by_parent.discard(identifier)
            websocket = self.sockets.get(identifier)
            if websocket is not None:
                self._apply(identifier, websocket)
        elif operation == "abort":
            websocket = self.sockets.get(identifier)
            if websocket is not None and websocket.transport is not None:
                websocket.transport.abort()
        else:
            raise ValueError(f"unknown relay command {operation!r}")


def _describe(error: BaseException) -> bytes:
    status = error.response.status_code if isinstance(error, InvalidStatus) else None
    return json.dumps({"type": type(error).__name__, "message": str(error), "status": status}).encode()


async def main() -> None:
    # Ctrl-C in a terminal, or a service manager stopping the whole process group, signals this
    # process too; the parent decides when ingest stops, and closes our stdin then (or dies, which
    # closes it as well). Dying first would only look like a dropped connection to the parent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    loop = asyncio.get_running_loop()
    relay = _Relay()
    commands = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    await loop.connect_write_pipe(lambda: relay.output, sys.stdout)
    while not relay.parent_gone.is_set() and (line := await commands.readline()):
        relay.handle(json.loads(line))
    for websocket in list(relay.sockets.values()):
        relay.spawn(websocket.close())
    await asyncio.gather(*list(relay.tasks), return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
