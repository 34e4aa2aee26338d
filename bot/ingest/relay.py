"""Websocket connections received in a child process, so their frame parsing runs on another core.

On one core the websockets library's parser, its transport and the asyncio work around them cost
about a quarter of what ingest spends on a message (docs/architecture.md, "Where the ingest time
goes"). With `receive_in_child_process` the stream client opens its connections through
`WebsocketRelay.connect` instead: the child (`bot.ingest.relay_process`) does the websocket part
and this process reads the messages in bulk from a pipe and hands each to the same callback a
`PushConnection` would call, with the same arguments.

`RelayedConnection` offers what `MarketStreamClient` uses of a connection: send, close,
wait_closed, pause_reading / resume_reading, close_code / close_reason, failure.

Receive times: the child stamps each message with the wall clock when its socket read returned
(one nanosecond apart within a read, as PushConnection does), so time spent in the pipe counts
as latency. A client on another clock (a test's ManualClock) cannot be read in the child: then
each pipe read is stamped here, with that clock, in the same way.

If the child dies, every connection through it ends with code 1006; the client reconnects as
after any dropped connection, and the next connect starts a new child.
"""

from __future__ import annotations

import asyncio
import builtins
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import structlog
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.http11 import Response

from bot.ingest.push_connection import MessageCallback
from bot.ingest.relay_process import CLOSED, FAILED, MESSAGE, OPENED, RECORD_HEADER

log = structlog.get_logger(__name__)

_STOP_TIMEOUT_SECONDS = 5.0
_ABNORMAL_CLOSURE = 1006


class RelayedConnection:
    failure: BaseException | None = None  # what on_message raised; the connection was aborted

    def __init__(self, relay: WebsocketRelay, identifier: int, on_message: MessageCallback, close_timeout: float) -> None:
        self._relay = relay
        self.identifier = identifier
        self.on_message: MessageCallback | None = on_message
        self._close_timeout = close_timeout
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closed = asyncio.Event()
        self._paused = False
        self.close_code: int | None = None
        self.close_reason: str = ""

    async def send(self, text: str) -> None:
        if self._closed.is_set():
            raise ConnectionClosed(None, None)
        self._relay.command({"op": "send", "id": self.identifier, "text": text})

    async def close(self) -> None:
        if self._closed.is_set():
            return
        self._relay.command({"op": "close", "id": self.identifier})
        try:
            await asyncio.wait_for(self._closed.wait(), self._close_timeout + 1.0)
        except TimeoutError:
            self._relay.command({"op": "abort", "id": self.identifier})
            self.finish(_ABNORMAL_CLOSURE, "no close from the relay process in time")

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def pause_reading(self) -> None:
        if not self._paused:
            self._paused = True
            self._relay.command({"op": "pause", "id": self.identifier})

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            self._relay.command({"op": "resume", "id": self.identifier})

    def fail(self, error: BaseException) -> None:
        """on_message raised (a bug downstream): end this connection, keep the error for its reader."""
        self.on_message = None
        self.failure = error
        self._relay.command({"op": "abort", "id": self.identifier})

    def finish(self, code: int | None, reason: str) -> None:
        self.on_message = None
        if self._closed.is_set():
            return
        self.close_code, self.close_reason = code, reason
        self._closed.set()
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"the connection ended before it opened: {reason}"))


class _RelayProtocol(asyncio.SubprocessProtocol):
    """Cuts the child's stdout into records as it arrives; one call handles a whole pipe read."""

    def __init__(self, relay: WebsocketRelay, now_ns: Callable[[], int] | None) -> None:
        self._relay = relay
        self._now_ns = now_ns  # None: the child's stamps are kept
        self._stamp = 0
        self._carry = b""  # the start of a record the last read cut off
        self.exited = asyncio.Event()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd != 1:
            return
        if self._carry:
            data, self._carry = self._carry + data, b""
        connections = self._relay.connections
        unpack = RECORD_HEADER.unpack_from
        header_size = RECORD_HEADER.size
        now_ns = self._now_ns
        if now_ns is not None:
            self._stamp = max(now_ns(), self._stamp + 1)
        offset, available = 0, len(data)
        while available - offset >= header_size:
            kind, identifier, ts, length = unpack(data, offset)
            start = offset + header_size
            end = start + length
            if end > available:
                break
            offset = end
            connection = connections.get(identifier)
            if connection is None:
                continue  # closed on this side already: what was still in the pipe is not wanted
            if kind == MESSAGE:
                on_message = connection.on_message
                if on_message is None:
                    continue
                if now_ns is not None:
                    ts = self._stamp
                    self._stamp = ts + 1
                try:
                    on_message(data[start:end], ts)
                except Exception as error:
                    connection.fail(error)
            else:
                self._relay.control(kind, connection, data[start:end])
        if offset < available:
            self._carry = data[offset:]

    def connection_lost(self, exc: Exception | None) -> None:
        # Called once the child has exited and its stdout is read to the end (process_exited can
        # come before the last records).
        self.exited.set()
        self._relay.lost(self)


class WebsocketRelay:
    def __init__(self, now_ns: Callable[[], int] | None = None) -> None:
        """now_ns: the client's clock when it is not the wall clock (stamps are then taken here)."""
        self.connections: dict[int, RelayedConnection] = {}
        self._now_ns = now_ns
        self._identifiers = itertools.count(1)
        self._transport: asyncio.SubprocessTransport | None = None
        self._protocol: _RelayProtocol | None = None
        self._starting = asyncio.Lock()

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        # The child imports `bot` from where this process did, whatever its working directory.
        source_root = str(Path(__file__).resolve().parents[2])
        environment = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")])))
        self._transport, self._protocol = await loop.subprocess_exec(  # type: ignore[assignment]
            lambda: _RelayProtocol(self, self._now_ns), sys.executable, "-m", "bot.ingest.relay_process",
            stderr=None, env=environment,  # its tracebacks, if any, go where ours go
        )
        log.info("websocket relay process started", pid=self._transport.get_pid())  # type: ignore[union-attr]

    async def stop(self) -> None:
        """Closes the child's commands; it closes its connections and exits (killed if it does not)."""
        transport, protocol = self._transport, self._protocol
        if transport is None or protocol is None:
            return
        stdin = transport.get_pipe_transport(0)
        if stdin is not None:
            stdin.close()
        try:
            await asyncio.wait_for(protocol.exited.wait(), _STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("websocket relay process did not stop in time; killing it")
            transport.kill()
            await protocol.exited.wait()
        transport.close()

    async def connect(
        self, url: str, on_message: MessageCallback, created: Callable[[RelayedConnection], None], *,
        close_timeout: float | None = 10, **options: Any,
    ) -> RelayedConnection:
        """Opens a websocket in the child; raises what websockets' connect() would have raised."""
        async with self._starting:  # shards connect at once; one child serves them all
            if self._protocol is not None and self._transport is not None and self._transport.get_returncode() is not None:
                await self._protocol.exited.wait()  # the child died: its last records come first
            if self._protocol is None:
                await self._start()  # first use, or after the child died: a reconnect gets a new one
        identifier = next(self._identifiers)
        connection = RelayedConnection(self, identifier, on_message, close_timeout or 0.0)
        self.connections[identifier] = connection
        created(connection)  # messages can follow the handshake before OPENED is read
        self.command({"op": "open", "id": identifier, "url": url, "options": options | {"close_timeout": close_timeout}})
        try:
            await connection.opened
        except BaseException:
            if self.connections.pop(identifier, None) is not None and self._transport is not None:
                self.command({"op": "abort", "id": identifier})  # cancelled while the handshake ran
            raise
        return connection

    def command(self, command: dict[str, Any]) -> None:
        stdin = self._transport.get_pipe_transport(0) if self._transport is not None else None
        if stdin is None or stdin.is_closing():
            return  # the child is gone; its connections have ended or are about to
        stdin.write(json.dumps(command).encode() + b"\n")  # type: ignore[attr-defined]

    def control(self, kind: int, connection: RelayedConnection, payload: bytes) -> None:
        if kind == OPENED:
            if not connection.opened.done():
                connection.opened.set_result(None)
        elif kind == FAILED:
            self.connections.pop(connection.identifier, None)
            if not connection.opened.done():
                connection.opened.set_exception(_rebuilt_error(json.loads(payload)))
            connection.finish(None, "connect failed")
        elif kind == CLOSED:
            self.connections.pop(connection.identifier, None)
            detail = json.loads(payload)
            connection.finish(detail["code"], detail["reason"])

    def lost(self, protocol: _RelayProtocol) -> None:
        """The child is gone: every connection through it has ended (abnormally)."""
        if protocol is not self._protocol:
            return
        exit_code = self._transport.get_returncode() if self._transport is not None else None
        if exit_code != 0:
            log.error("websocket relay process ended", exit_code=exit_code)
        self._transport = self._protocol = None
        connections, self.connections = self.connections, {}
        for connection in connections.values():
            connection.finish(_ABNORMAL_CLOSURE, "websocket relay process ended")


def _rebuilt_error(detail: dict[str, Any]) -> BaseException:
    """The child's connect() failure as the exception type MarketStreamClient sorts failures by."""
    kind, message, status = detail["type"], str(detail["message"]), detail["status"]
    if status is not None:
        return InvalidStatus(Response(int(status), message, Headers()))
    if kind == "InvalidURI":
        return InvalidURI("", message)
    if kind == "TimeoutError":
        return TimeoutError(message)
    if kind.startswith("Invalid") or kind == "NegotiationError":
        return InvalidHandshake(message)
    builtin = getattr(builtins, kind, None)
    if isinstance(builtin, type) and issubclass(builtin, OSError):
        return builtin(message)  # e.g. ConnectionRefusedError: the same retry as in one process
    return OSError(f"{kind}: {message}")
