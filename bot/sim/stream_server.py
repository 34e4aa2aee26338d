"""The websocket half of the replay exchange: accepts Binance-style stream connections, keeps who is
subscribed to what, and carries out connection-level faults (drops, serverShutdown)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from bot.clock import Clock
from bot.sim.connection import POLICY_VIOLATION, StreamConnection
from bot.sim.counters import ExchangeCounters
from bot.sim.faults import (
    DROP_MODES,
    CloseAfterFlush,
    FaultState,
    InjectedFrame,
    ScheduledDrop,
    server_shutdown_frame,
)
from bot.sim.settings import ReplaySettings
from bot.sim.timeline import Timeline

log = structlog.get_logger(__name__)

GOING_AWAY = 1001
# An abrupt drop first lets already-written frames leave the process (so "dropped after N frames"
# means the client got N frames), but never waits longer than this for a stuck reader.
_ABRUPT_FLUSH_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class StreamTarget:
    combined: bool
    streams: list[str]


def parse_target(path: str) -> StreamTarget | None:
    """/stream?streams=a/b (combined), /ws or /ws/a/b (raw); None for anything else."""
    parts = urlsplit(path)
    if parts.path in ("/stream", "/stream/"):
        names = parse_qs(parts.query).get("streams", [""])[0]
        return StreamTarget(True, [name for name in names.split("/") if name])
    if parts.path in ("/ws", "/ws/"):
        return StreamTarget(False, [])
    if parts.path.startswith("/ws/"):
        return StreamTarget(False, [name for name in parts.path[4:].split("/") if name])
    return None


class StreamServer:
    def __init__(
        self,
        settings: ReplaySettings,
        timeline: Timeline,
        faults: FaultState,
        counters: ExchangeCounters,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.timeline = timeline
        self.faults = faults
        self.counters = counters
        self.clock = clock
        self.connections: set[StreamConnection] = set()
        # Tuples, rebuilt on (un)subscribe, so the replay can iterate them while connections come
        # and go during its awaits.
        self.subscribers: dict[str, tuple[StreamConnection, ...]] = {}
        self.subscription_count = 0
        self.frames_sent_total = 0
        # Set by the exchange: wake the replay when someone subscribes; start an outage.
        self.on_subscribed: Callable[[], None] = lambda: None
        self.on_outage: Callable[[int], None] = lambda outage_ns: None
        self.on_rewind: Callable[[int], None] = lambda position: None
        self.server_time_ms: Callable[[], int] = lambda: 0
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.settings.host,
            self.settings.ws_port,
            process_request=self._check_path,
            compression=None,  # Binance streams are not deflate-compressed
            ping_interval=self.settings.ping_interval_s,
            ping_timeout=self.settings.pong_timeout_s,
            close_timeout=self.settings.close_timeout_s,
            max_size=2**20,
        )

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the stream server first"
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close(close_connections=True)
        await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._server = None

    # -- connections ----------------------------------------------------------------------------

    def _check_path(self, connection: ServerConnection, request: Request) -> Response | None:
        if parse_target(request.path) is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "Unknown stream path; use /ws/<stream> or /stream?streams=\n")
        return None

    async def _handle(self, websocket: ServerConnection) -> None:
        target = parse_target(websocket.request.path)
        assert target is not None  # _check_path refused anything else
        connection = StreamConnection(self, websocket, target.combined)
        self.connections.add(connection)
        self.counters.connections_accepted += 1
        sender = asyncio.create_task(connection.run_sender())
        try:
            if not target.streams or self.subscribe(connection, target.streams):
                await connection.receive_control_messages()
        finally:
            self._unregister(connection)
            connection.closed = True
            connection.release_waiters()
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            self.counters.connections_closed += 1
            close_sent = websocket.protocol.close_sent
            if close_sent is not None and close_sent.code == 1011 and "keepalive" in close_sent.reason:
                self.counters.pong_timeouts += 1
                log.warning("sim.ws.pong_timeout", path=websocket.request.path)

    def subscribe(self, connection: StreamConnection, streams: list[str]) -> bool:
        """False when the connection went over Binance's stream limit and is being closed."""
        new = [name for name in dict.fromkeys(streams) if name not in connection.subscriptions]
        if len(connection.subscriptions) + len(new) > self.settings.max_streams_per_connection:
            self.counters.stream_limit_violations += 1
            log.warning("sim.ws.stream_limit_exceeded", streams=len(connection.subscriptions) + len(new))
            self._spawn(connection.websocket.close(POLICY_VIOLATION, "Too many streams"))
            return False
        for name in new:
            connection.subscriptions[name] = None
            self.subscribers[name] = (*self.subscribers.get(name, ()), connection)
        self.subscription_count += len(new)
        if new:
            self.on_subscribed()
        return True

    def unsubscribe(self, connection: StreamConnection, streams: list[str]) -> None:
        for name in streams:
            if name in connection.subscriptions:
                del connection.subscriptions[name]
                self._remove_subscriber(name, connection)

    def _remove_subscriber(self, name: str, connection: StreamConnection) -> None:
        remaining = tuple(other for other in self.subscribers.get(name, ()) if other is not connection)
        if remaining:
            self.subscribers[name] = remaining
        else:
            self.subscribers.pop(name, None)
        self.subscription_count -= 1

    def _unregister(self, connection: StreamConnection) -> None:
        """Stop dispatching to a connection; its subscriptions end with it."""
        for name in list(connection.subscriptions):
            self._remove_subscriber(name, connection)
        connection.subscriptions.clear()
        self.connections.discard(connection)

    def _spawn(self, coroutine) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- faults ---------------------------------------------------------------------------------

    def frames_until_scheduled_drop(self) -> int | None:
        target = self.faults.next_drop_at()
        return None if target is None else max(target - self.frames_sent_total, 0)

    def note_frames_sent(self, count: int) -> None:
        self.frames_sent_total += count
        target = self.faults.next_drop_at()
        if target is not None and self.frames_sent_total >= target:
            drop = self.faults.scheduled_drops.pop(0)
            log.info("sim.fault.scheduled_drop", frames_sent=self.frames_sent_total, mode=drop.mode)
            self.drop_connections(drop.mode, drop.outage_ns)

    def schedule_drop(self, after_frames: int, mode: str, outage_ns: int, times: int) -> None:
        _check_mode(mode)
        base = self.faults.scheduled_drops[-1].at_frames_sent if self.faults.scheduled_drops else self.frames_sent_total
        for repeat in range(1, times + 1):
            self.faults.scheduled_drops.append(ScheduledDrop(base + after_frames * repeat, mode, outage_ns))

    def drop_connections(self, mode: str, outage_ns: int = 0) -> int:
        _check_mode(mode)
        dropped = list(self.connections)
        # In max mode the exchange's time is the reader's: what a dropped reader had queued but was
        # never sent has not happened yet, so it goes to the next connection. A drop that loses
        # data, as on the live exchange, is asked for explicitly with outage_ns.
        unsent = [item for connection in dropped for item in connection.backlog if type(item) is int]
        for connection in dropped:
            self._drop(connection, mode)
        if outage_ns:
            self.on_outage(outage_ns)
        elif unsent and self.settings.speed is None and not self.connections:
            self.on_rewind(min(unsent))
        return len(dropped)

    def _drop(self, connection: StreamConnection, mode: str) -> None:
        connection.halted = True
        self.counters.connections_dropped_by_fault[mode] += 1
        self._unregister(connection)
        connection.release_waiters()
        self._spawn(self._terminate(connection, mode))

    async def _terminate(self, connection: StreamConnection, mode: str) -> None:
        websocket = connection.websocket
        if mode == "clean":
            await websocket.close(GOING_AWAY, "replay exchange: going away")
            return
        transport = websocket.transport
        deadline = asyncio.get_running_loop().time() + _ABRUPT_FLUSH_TIMEOUT_S
        while transport.get_write_buffer_size() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.001)
        # No close frame: the client sees the TCP connection end (close code 1006).
        transport.abort()

    def drop_slow_consumer(self, connection: StreamConnection) -> None:
        self.counters.slow_consumer_disconnects += 1
        log.warning("sim.ws.slow_consumer_dropped", backlog=len(connection.backlog))
        connection.halted = True
        self._unregister(connection)
        connection.release_waiters()
        self._spawn(connection.websocket.close(POLICY_VIOLATION, "slow consumer"))

    def server_shutdown(self, event_time_ms: int) -> int:
        """Send serverShutdown to every connection after what it already has queued, then close."""
        notified = list(self.connections)
        frame = server_shutdown_frame(event_time_ms)
        for connection in notified:
            self._unregister(connection)
            connection.push(frame)
            connection.push(CloseAfterFlush(GOING_AWAY, "replay exchange: server shutdown", "server_shutdown"))
            connection.release_waiters()
        return len(notified)

    async def close_after_flush(self, connection: StreamConnection, marker: CloseAfterFlush) -> None:
        connection.halted = True
        self.counters.connections_dropped_by_fault[marker.fault] += 1
        await connection.websocket.drain()
        self._spawn(connection.websocket.close(marker.code, marker.reason))

    def inject(self, connections: tuple[StreamConnection, ...], frame: InjectedFrame) -> None:
        for connection in connections:
            connection.push(frame)
        self.counters.malformed_frames_sent += len(connections)


def _check_mode(mode: str) -> None:
    if mode not in DROP_MODES:
        raise ValueError(f"unknown drop mode {mode!r}; one of {', '.join(DROP_MODES)}")
