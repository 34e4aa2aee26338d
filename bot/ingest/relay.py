"""Websocket connections received in a child process (bot.ingest.relay_process), so the websockets
library's per-frame work runs on another CPU core than decoding, sequencing and writing.

`WebsocketRelay.connect` stands in for `websockets.asyncio.client.connect`, and the connection it
returns offers what `MarketStreamClient` uses of a websockets connection (`recv`, `send`, `close`,
`close_code`, `close_reason`), plus `receive_stamped`: the frame with the time it arrived in the
relay, so `ts_init` is the receive time however long the frame then waited in the pipe.

Flow control end to end: when ingest stops reading (Redis behind), a connection's queue passes
`_QUEUE_HIGH` and the pipe is no longer read; the relay's writes then block, it stops receiving,
and TCP pushes back on the exchange, as it does when the websocket is read in-process.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
from collections import deque
from pathlib import Path

import structlog
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.http11 import Response

from bot.ingest.relay_process import CLOSED, FAILED, FRAME, HEADER, OPENED

log = structlog.get_logger(__name__)

_QUEUE_HIGH = 512  # frames waiting in one connection before the pipe is left unread
_QUEUE_LOW = _QUEUE_HIGH // 2
# Frames handed out in a row before the reader yields to the event loop. A queued frame returns
# without suspending, so without this one reader could run through thousands of frames while the
# Redis writer (and, in tests and the benchmark, an exchange in the same loop) waits.
_FRAMES_PER_TURN = 128
_STOP_TIMEOUT_SECONDS = 5.0


class RelayedConnection:
    def __init__(self, relay: WebsocketRelay, identifier: int, close_timeout: float) -> None:
        self._relay = relay
        self.identifier = identifier
        self._close_timeout = close_timeout
        self._frames: deque[tuple[bytes, int]] = deque()
        self._turn = 0
        self._waiter: asyncio.Future[None] | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.finished = asyncio.Event()  # CLOSED received: nothing more will come
        self.close_code: int | None = None
        self.close_reason: str = ""

    # --- what MarketStreamClient calls -------------------------------------------------------

    async def receive_stamped(self) -> tuple[bytes, int]:
        """The next frame and its receive time (ns); ConnectionClosed once all were read."""
        frames = self._frames
        self._turn += 1
        if self._turn >= _FRAMES_PER_TURN:
            self._turn = 0
            await asyncio.sleep(0)
        while not frames:
            if self.finished.is_set():
                raise ConnectionClosed(None, None)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
                self._turn = 0
        if self._relay.paused and len(frames) <= _QUEUE_LOW:
            self._relay.resume()
        return frames.popleft()

    async def recv(self, decode: bool | None = None) -> bytes:
        return (await self.receive_stamped())[0]

    async def send(self, text: str) -> None:
        if self.finished.is_set():
            raise ConnectionClosed(None, None)
        self._relay.command({"op": "send", "id": self.identifier, "text": text})

    async def close(self) -> None:
        if not self.finished.is_set():
            self._relay.command({"op": "close", "id": self.identifier})
            try:
                await asyncio.wait_for(self.finished.wait(), self._close_timeout + 1.0)
            except TimeoutError:
                self._finish(1006, "no close from the relay in time")

    # --- fed by the relay --------------------------------------------------------------------

    def _deliver(self, frame: bytes, received_ns: int) -> None:
        self._frames.append((frame, received_ns))
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if len(self._frames) > _QUEUE_HIGH:
            self._relay.pause()

    def _finish(self, code: int | None, reason: str) -> None:
        self.close_code, self.close_reason = code, reason
        self.finished.set()
        if not self.opened.done():
            self.opened.set_exception(OSError(f"relay connection ended before it opened: {reason}"))
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class _RelayProtocol(asyncio.SubprocessProtocol):
    """Cuts the relay's stdout into records as it arrives; one call handles a whole burst."""

    def __init__(self, relay: WebsocketRelay) -> None:
        self._relay = relay
        self._buffer = bytearray()
        self.exited = asyncio.Event()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        connections = self._relay.connections
        unpack = HEADER.unpack_from
        size = HEADER.size
        offset, available = 0, len(buffer)
        while available - offset >= size:
            kind, identifier, ts, length = unpack(buffer, offset)
            end = offset + size + length
            if end > available:
                break
            connection = connections.get(identifier)
            if kind == FRAME:
                if connection is not None:
                    connection._deliver(bytes(buffer[offset + size:end]), ts)
            else:
                self._relay._control(kind, identifier, bytes(buffer[offset + size:end]))
            offset = end
        del buffer[:offset]

    def process_exited(self) -> None:
        self.exited.set()
        self._relay._lost()


class WebsocketRelay:
    def __init__(self) -> None:
        self.connections: dict[int, RelayedConnection] = {}
        self.paused = False
        self._identifiers = itertools.count(1)
        self._transport: asyncio.SubprocessTransport | None = None
        self._protocol: _RelayProtocol | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # The child imports `bot` from where this process did, whatever its working directory.
        source_root = str(Path(__file__).resolve().parents[2])
        environment = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")])))
        self._transport, self._protocol = await loop.subprocess_exec(  # type: ignore[assignment]
            lambda: _RelayProtocol(self), sys.executable, "-m", "bot.ingest.relay_process", stderr=None, env=environment,
        )
        self.paused = False

    async def stop(self) -> None:
        transport, protocol = self._transport, self._protocol
        if transport is None or protocol is None:
            return
        self._transport = None
        stdin = transport.get_pipe_transport(0)
        if stdin is not None:
            stdin.close()  # end of commands: the relay closes its connections and exits
        try:
            await asyncio.wait_for(protocol.exited.wait(), _STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            transport.kill()
        transport.close()
        self._lost()

    async def connect(self, url: str, *, open_timeout: float | None = 10, close_timeout: float | None = 10, **options: object) -> RelayedConnection:
        """Opens a websocket in the relay; raises what websockets' connect() would have."""
        if self._transport is None or self._transport.get_returncode() is not None:
            await self.start()  # first use, or the relay died: a reconnect gets a fresh one
        identifier = next(self._identifiers)
        connection = RelayedConnection(self, identifier, close_timeout or 0.0)
        self.connections[identifier] = connection
        options |= {"open_timeout": open_timeout, "close_timeout": close_timeout}
        self.command({"op": "open", "id": identifier, "url": url, "options": options})
        try:
            await connection.opened
        except BaseException:
            self.connections.pop(identifier, None)
            raise
        return connection

    def command(self, command: dict[str, object]) -> None:
        if self._transport is None:
            raise ConnectionError("the websocket relay is not running")
        stdin = self._transport.get_pipe_transport(0)
        stdin.write(json.dumps(command).encode() + b"\n")  # type: ignore[union-attr]

    def pause(self) -> None:
        if not self.paused and self._transport is not None:
            self.paused = True
            self._transport.get_pipe_transport(1).pause_reading()  # type: ignore[union-attr]

    def resume(self) -> None:
        if self.paused and self._transport is not None:
            self.paused = False
            self._transport.get_pipe_transport(1).resume_reading()  # type: ignore[union-attr]

    def _control(self, kind: int, identifier: int, payload: bytes) -> None:
        connection = self.connections.get(identifier)
        if connection is None:
            return
        if kind == OPENED:
            if not connection.opened.done():
                connection.opened.set_result(None)
        elif kind == FAILED:
            self.connections.pop(identifier, None)
            if not connection.opened.done():
                connection.opened.set_exception(_rebuilt_error(json.loads(payload), connection))
        elif kind == CLOSED:
            self.connections.pop(identifier, None)
            detail = json.loads(payload)
            connection._finish(detail["code"], detail["reason"] or "")

    def _lost(self) -> None:
        """The relay is gone: every connection through it has ended (abnormally, 1006)."""
        connections, self.connections = self.connections, {}
        for connection in connections.values():
            connection._finish(1006, "websocket relay process ended")


def _rebuilt_error(detail: dict[str, object], connection: RelayedConnection) -> BaseException:
    """The relay's connect() failure as the exception type MarketStreamClient sorts them by."""
    kind, message, status = detail["type"], str(detail["message"]), detail["status"]
    if status is not None:
        return InvalidStatus(Response(int(status), message, Headers()))  # type: ignore[arg-type]
    if kind == "InvalidURI":
        return InvalidURI("", message)
    if kind == "TimeoutError":
        return TimeoutError(message)
    if kind in ("InvalidHandshake", "InvalidMessage", "InvalidHeader", "InvalidUpgrade", "NegotiationError", "InvalidHeaderValue"):
        return InvalidHandshake(message)
    return OSError(f"{kind}: {message}")
