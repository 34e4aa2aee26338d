"""One websocket connection to the replay exchange: Binance's control messages in, frames out.

Frames leave through a per-connection backlog of timeline positions. The sender turns a batch of
positions into pre-encoded websocket frames and writes them to the socket in one call: frames are
encoded once at load time, so the send path does no JSON work at all.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from bot.sim.faults import CloseAfterFlush, InjectedFrame

if TYPE_CHECKING:
    from bot.sim.stream_server import StreamServer

log = structlog.get_logger(__name__)

_BATCH_FRAMES = 256
_SMALL_HEADERS = [bytes((0x81, length)) for length in range(126)]
_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
POLICY_VIOLATION = 1008


def text_frame_header(length: int) -> bytes:
    """RFC 6455 header of an unmasked, unfragmented text frame (server frames are never masked)."""
    if length < 126:
        return _SMALL_HEADERS[length]
    if length < 65536:
        return b"\x81\x7e" + length.to_bytes(2, "big")
    return b"\x81\x7f" + length.to_bytes(8, "big")


def _valid_request_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return (isinstance(value, int) and value >= 0) or isinstance(value, str)


class StreamConnection:
    def __init__(self, server: StreamServer, websocket: ServerConnection, combined: bool) -> None:
        self.server = server
        self.websocket = websocket
        self.combined = combined
        self.subscriptions: dict[str, None] = {}  # ordered, for LIST_SUBSCRIPTIONS
        self.backlog: deque[int | InjectedFrame | CloseAfterFlush] = deque()
        self.halted = False  # a fault is taking the connection down: send nothing more
        self.closed = False
        self._wakeup = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._message_times_ns: deque[int] = deque()

    # -- outgoing -------------------------------------------------------------------------------

    def push(self, item: int | InjectedFrame | CloseAfterFlush) -> None:
        self.backlog.append(item)
        self._wakeup.set()

    async def wait_for_space(self) -> None:
        """Max-speed replay waits here while this connection is the slowest reader."""
        high_water = self.server.settings.send_buffer_frames
        while len(self.backlog) >= high_water and not (self.closed or self.halted):
            self._space.clear()
            await self._space.wait()

    def release_waiters(self) -> None:
        self._space.set()
        self._wakeup.set()

    async def run_sender(self) -> None:
        server = self.server
        timeline = server.timeline
        frames = timeline.frames
        offsets = timeline.data_offsets
        streams = timeline.streams
        counts = server.counters.frames_sent_by_stream
        websocket = self.websocket
        transport = websocket.transport
        backlog = self.backlog
        low_water = server.settings.send_buffer_frames // 2
        direct = server.settings.direct_frame_writes
        while True:
            if not backlog or self.halted:
                self._space.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if transport.is_closing() or websocket.state is not State.OPEN:
                self._space.set()
                return
            allowance = server.frames_until_scheduled_drop()
            if allowance == 0:
                server.note_frames_sent(0)  # a scheduled drop is due: let it fire, send nothing
                continue
            limit = _BATCH_FRAMES if allowance is None else min(_BATCH_FRAMES, allowance)
            combined = self.combined
            payloads: list[bytes | memoryview] = []
            close_marker: CloseAfterFlush | None = None
            while backlog and len(payloads) < limit:
                item = backlog.popleft()
                if type(item) is int:
                    frame = frames[item]
                    payloads.append(frame if combined else memoryview(frame)[offsets[item] : -1])
                    counts[streams[item]] += 1
                elif type(item) is InjectedFrame:
                    payloads.append(item.combined if combined else item.raw)
                else:
                    close_marker = item  # type: ignore[assignment]
                    break
            if payloads:
                if direct:
                    parts: list[bytes | memoryview] = []
                    for payload in payloads:
                        parts.append(text_frame_header(len(payload)))
                        parts.append(payload)
                    transport.write(b"".join(parts))
                else:
                    try:
                        for payload in payloads:
                            await websocket.send(payload, text=True)
                    except ConnectionClosed:
                        self._space.set()
                        return
                server.note_frames_sent(len(payloads))
            if close_marker is not None:
                await server.close_after_flush(self, close_marker)
                return
            if len(backlog) <= low_water:
                self._space.set()
            if direct:
                # Flow control: wait while the socket's write buffer is above websockets' limit.
                await websocket.drain()

    # -- incoming -------------------------------------------------------------------------------

    async def receive_control_messages(self) -> None:
        try:
            async for message in self.websocket:
                self.server.counters.control_messages_received += 1
                if self._over_message_rate():
                    self.server.counters.control_message_limit_violations += 1
                    log.warning("sim.ws.message_rate_exceeded", path=self.websocket.request.path)
                    await self.websocket.close(POLICY_VIOLATION, "Too many requests")
                    return
                response = self._answer(message)
                if response is not None:
                    await self.websocket.send(response, text=True)
        except ConnectionClosed:
            return

    def _over_message_rate(self) -> bool:
        # Binance counts every incoming message in a sliding second (its pings and pongs too;
        # those are answered inside the websockets library and are not seen here).
        now_ns = self.server.clock.now_ns()
        times = self._message_times_ns
        times.append(now_ns)
        while times and times[0] <= now_ns - 1_000_000_000:
            times.popleft()
        return len(times) > self.server.settings.control_messages_per_second

    def _error(self, code: int, message: str, request_id: Any) -> bytes:
        self.server.counters.control_message_errors += 1
        return msgspec.json.encode({"error": {"code": code, "msg": message}, "id": request_id})

    def _answer(self, message: str | bytes) -> bytes | None:
        try:
            request = msgspec.json.decode(message)
        except msgspec.DecodeError:
            return self._error(3, "Invalid JSON: expected value at line 1 column 1", None)
        if not isinstance(request, dict):
            return self._error(2, "Invalid request: expected a JSON object", None)
        request_id = request.get("id")
        method = request.get("method")
        params = request.get("params", [])
        if not _valid_request_id(request_id):
            error = (2, "Invalid request: request ID must be an unsigned integer")
        elif method is None:
            error = (2, "Invalid request: missing field `method`")
        elif method not in _METHODS:
            expected = ", ".join(f"`{name}`" for name in _METHODS)
            error = (2, f"Invalid request: unknown variant `{method}`, expected one of {expected}")
        elif not isinstance(params, list):
            error = (2, "Invalid request: params must be an array")
        else:
            return self._run_method(method, params, request_id)
        return self._error(error[0], error[1], request_id if _valid_request_id(request_id) else None)

    def _run_method(self, method: str, params: list[Any], request_id: Any) -> bytes | None:
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not all(isinstance(name, str) and name for name in params):
                return self._error(2, "Invalid request: stream names must be non-empty strings", request_id)
            if method == "SUBSCRIBE":
                if not self.server.subscribe(self, params):
                    return None  # over the stream limit: the connection is being closed
            else:
                self.server.unsubscribe(self, params)
            return msgspec.json.encode({"result": None, "id": request_id})
        if method == "LIST_SUBSCRIPTIONS":
            return msgspec.json.encode({"result": list(self.subscriptions), "id": request_id})
        if not params or not isinstance(params[0], str):
            return self._error(2, "Invalid request: property name must be a string", request_id)
        if params[0] != "combined":
            return self._error(0, "Unknown property", request_id)
        if method == "GET_PROPERTY":
            return msgspec.json.encode({"result": self.combined, "id": request_id})
        if len(params) != 2 or not isinstance(params[1], bool):
            return self._error(1, "Invalid value type: expected Boolean", request_id)
        self.combined = params[1]
        return msgspec.json.encode({"result": None, "id": request_id})
