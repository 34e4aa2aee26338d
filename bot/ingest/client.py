"""The websocket client for Binance combined streams, under Binance's connection rules.

- At most `max_streams_per_connection` (Binance: 1024) streams per connection: more are sharded
  over several connections, each with its own supervisor.
- Streams are subscribed in batches: the first batch in the URL (`/stream?streams=a/b/c`), the
  rest with SUBSCRIBE messages carrying many params each, paced so no connection sends more than
  `control_messages_per_second` (Binance: 5, counting pings and pongs; the default of 4 leaves
  room for the library's keepalive ping).
- Pings from the server are answered by the `websockets` library; our own keepalive pings detect
  a dead socket that the operating system has not noticed.
- Binance ends every connection at 24 hours. Each connection is replaced before that: a new one is
  opened and subscribed, and the old one is closed only once the new one delivers, so nothing is
  missed; the overlap produces duplicates, which the sequencers downstream drop. A
  `serverShutdown` notice triggers the same hand-over at once.
- An unexpected close is retried with jittered exponential backoff. Errors that retrying cannot
  fix (a malformed URL, a handshake refused with 4xx other than 418/429, a refused subscription)
  are fatal and stop the client with `FatalStreamError`.
- A watchdog notes streams that went silent for `stale_after_seconds`; when every stream of a
  connection is silent the connection is presumed dead and replaced.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol

import msgspec
import structlog
import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from bot.backoff import Backoff, RateLimiter
from bot.clock import Clock
from bot.domain.events import StreamMessage
from bot.ingest.wire import ControlReply, FrameDecoder, FrameError, ServerShutdown

log = structlog.get_logger(__name__)

_SECOND_NS = 1_000_000_000


class FatalStreamError(RuntimeError):
    """A failure that reconnecting cannot fix; the configuration or the venue must change."""


@dataclass(frozen=True)
class StreamClientSettings:
    max_streams_per_connection: int = 1024
    streams_per_subscribe: int = 200
    control_messages_per_second: int = 4
    connection_lifetime_seconds: float = 23 * 3600
    handover_timeout_seconds: float = 30.0
    stale_after_seconds: float = 30.0
    keepalive_interval_seconds: float | None = 20.0
    open_timeout_seconds: float = 10.0
    backoff_initial_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    backoff_multiplier: float = 2.0


class StreamEvents(Protocol):
    """What the client reports. `on_message` returns True when downstream is congested."""

    def on_message(self, message: StreamMessage) -> bool: ...
    def on_frame_error(self, error: FrameError) -> None: ...
    def on_connection_event(self, kind: str, shard: int, detail: str) -> None: ...
    def on_stale(self, stream: str, silent_seconds: float) -> None: ...


def shard_streams(streams: list[str], per_connection: int) -> list[list[str]]:
    if not 1 <= per_connection <= 1024:
        raise ValueError("Binance allows 1 to 1024 streams per connection")
    unique = list(dict.fromkeys(streams))
    return [unique[index:index + per_connection] for index in range(0, len(unique), per_connection)]


class _Connection:
    """One open websocket and what we know about it."""

    def __init__(self, websocket: ClientConnection, streams: list[str], opened_ns: int) -> None:
        self.websocket = websocket
        self.streams = streams
        self.opened_ns = opened_ns
        self.first_message = asyncio.Event()
        self.shutdown_notice = asyncio.Event()
        self.pending_replies: dict[int, asyncio.Future[ControlReply]] = {}
        self.receiver: asyncio.Task[None] | None = None


class MarketStreamClient:
    def __init__(
        self,
        base_url: str,
        streams: list[str],
        clock: Clock,
        events: StreamEvents,
        settings: StreamClientSettings | None = None,
        drained: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._settings = settings or StreamClientSettings()
        self._shards = shard_streams(streams, self._settings.max_streams_per_connection)
        self._clock = clock
        self._events = events
        self._drained = drained
        self._decoder = FrameDecoder()
        self._request_ids = itertools.count(1)
        self._last_message_ns: dict[str, int] = {}
        self._stale: set[str] = set()
        self._connections: dict[int, _Connection] = {}
        self.connections_opened = 0

    @property
    def shards(self) -> list[list[str]]:
        return self._shards

    async def run(self) -> None:
        """Runs every shard until cancelled; raises FatalStreamError if one cannot go on."""
        async with asyncio.TaskGroup() as group:
            for index, streams in enumerate(self._shards):
                group.create_task(self._supervise(index, streams), name=f"stream-shard-{index}")
            group.create_task(self._watch_staleness(), name="stream-watchdog")

    # --- one shard --------------------------------------------------------------------------

    async def _supervise(self, shard: int, streams: list[str]) -> None:
        backoff = Backoff(self._settings.backoff_initial_seconds, self._settings.backoff_max_seconds, self._settings.backoff_multiplier)
        current = await self._open_with_retry(shard, streams, backoff)
        try:
            while True:
                reason = await self._until_replacement_due(current)
                if reason == "closed":
                    self._events.on_connection_event("reconnect", shard, "connection closed unexpectedly")
                    await self._close(current)
                    current = await self._open_with_retry(shard, streams, backoff, first_attempt=1)
                    continue
                # Planned hand-over (age or serverShutdown): overlap old and new connections.
                self._events.on_connection_event("handover", shard, reason)
                replacement = await self._open_with_retry(shard, streams, backoff)
                try:
                    await asyncio.wait_for(replacement.first_message.wait(), self._settings.handover_timeout_seconds)
                except TimeoutError:
                    log.warning("replacement connection silent; closing the old one anyway", shard=shard)
                await self._close(current)
                current = replacement
        finally:
            await self._close(current)

    async def _until_replacement_due(self, connection: _Connection) -> str:
        lifetime_ns = int(self._settings.connection_lifetime_seconds * _SECOND_NS)
        remaining = (connection.opened_ns + lifetime_ns - self._clock.now_ns()) / _SECOND_NS
        shutdown = asyncio.ensure_future(connection.shutdown_notice.wait())
        try:
            done, _ = await asyncio.wait({connection.receiver, shutdown}, timeout=max(remaining, 0), return_when=asyncio.FIRST_COMPLETED)
        finally:
            shutdown.cancel()
        if connection.receiver in done:
            error = connection.receiver.exception()
            if isinstance(error, FatalStreamError):
                raise error
            return "closed"
        if shutdown in done:
            return "server shutdown notice"
        return "connection lifetime reached"

    async def _open_with_retry(self, shard: int, streams: list[str], backoff: Backoff, first_attempt: int = 0) -> _Connection:
        attempt = first_attempt
        while True:
            if attempt:
                delay = backoff.delay(attempt)
                await asyncio.sleep(delay)
            try:
                return await self._open(shard, streams)
            except FatalStreamError:
                raise
            except InvalidURI as error:
                raise FatalStreamError(f"bad websocket URL: {error}") from error
            except InvalidStatus as error:
                status = error.response.status_code
                if 400 <= status < 500 and status not in (418, 429):
                    raise FatalStreamError(f"the exchange refused the connection with HTTP {status}") from error
                self._events.on_connection_event("connect_failed", shard, f"HTTP {status}")
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as error:
                self._events.on_connection_event("connect_failed", shard, f"{type(error).__name__}: {error}")
            attempt += 1

    async def _open(self, shard: int, streams: list[str]) -> _Connection:
        per_request = self._settings.streams_per_subscribe
        batches = [streams[index:index + per_request] for index in range(0, len(streams), per_request)]
        url = f"{self._base_url}/stream?streams={'/'.join(batches[0])}"
        websocket = await connect(
            url,
            open_timeout=self._settings.open_timeout_seconds,
            ping_interval=self._settings.keepalive_interval_seconds,
            ping_timeout=self._settings.keepalive_interval_seconds,
            compression=None,  # loopback and LAN links gain nothing; inflating costs CPU per frame
            max_size=16 * 2**20,
            close_timeout=2,
        )
        connection = _Connection(websocket, streams, self._clock.now_ns())
        connection.receiver = asyncio.create_task(self._receive(connection), name=f"stream-receive-{shard}")
        self._connections[shard] = connection
        self.connections_opened += 1
        now = self._clock.now_ns()
        for stream in streams:
            self._last_message_ns.setdefault(stream, now)
        try:
            await self._subscribe_rest(connection, batches[1:])
        except BaseException:
            await self._close(connection)
            raise
        log.info("stream connection open", shard=shard, streams=len(streams))
        return connection

    async def _subscribe_rest(self, connection: _Connection, batches: list[list[str]]) -> None:
        limiter = RateLimiter(self._clock, self._settings.control_messages_per_second)
        limiter.record()  # the opening handshake counts against the first second too
        for batch in batches:
            wait_ns = limiter.wait_ns()
            while wait_ns > 0:
                await asyncio.sleep(wait_ns / _SECOND_NS)
                wait_ns = limiter.wait_ns()
            request_id = next(self._request_ids)
            reply: asyncio.Future[ControlReply] = asyncio.get_running_loop().create_future()
            connection.pending_replies[request_id] = reply
            await connection.websocket.send(msgspec.json.encode({"method": "SUBSCRIBE", "params": batch, "id": request_id}).decode())
            limiter.record()
            answer = await asyncio.wait_for(reply, self._settings.open_timeout_seconds)
            if answer.error is not None:
                raise FatalStreamError(f"subscription refused: {answer.error}")

    async def _receive(self, connection: _Connection) -> None:
        decoder = self._decoder
        events = self._events
        clock = self._clock
        last_message_ns = self._last_message_ns
        websocket = connection.websocket
        while True:
            try:
                frame = await websocket.recv(decode=False)
            except ConnectionClosed:
                return
            ts_init = clock.now_ns()
            try:
                message = decoder.decode(frame, ts_init)
            except FrameError as error:
                events.on_frame_error(error)
                continue
            if type(message) is StreamMessage:
                last_message_ns[message.stream] = ts_init
                if not connection.first_message.is_set():
                    connection.first_message.set()
                if events.on_message(message) and self._drained is not None:
                    await self._drained()  # downstream is behind: stop reading, TCP pushes back
            elif isinstance(message, ControlReply):
                self._resolve_reply(connection, message)
            elif isinstance(message, ServerShutdown):
                log.warning("exchange announced a server shutdown; handing over to a new connection")
                connection.shutdown_notice.set()

    def _resolve_reply(self, connection: _Connection, reply: ControlReply) -> None:
        future = connection.pending_replies.pop(reply.id, None) if isinstance(reply.id, int) else None
        if future is not None and not future.done():
            future.set_result(reply)
        elif reply.error is not None:
            log.error("exchange reported an error", error=reply.error, request_id=reply.id)

    async def _close(self, connection: _Connection) -> None:
        if connection.receiver is not None and not connection.receiver.done():
            connection.receiver.cancel()
        try:
            await connection.websocket.close()
        except Exception:  # the socket may already be gone; closing is best effort
            pass

    # --- staleness ---------------------------------------------------------------------------

    async def _watch_staleness(self) -> None:
        limit_ns = int(self._settings.stale_after_seconds * _SECOND_NS)
        period = min(max(self._settings.stale_after_seconds / 4, 0.05), 1.0)
        while True:
            await asyncio.sleep(period)
            now = self._clock.now_ns()
            for shard, streams in enumerate(self._shards):
                silent = [stream for stream in streams if now - self._last_message_ns.get(stream, now) > limit_ns]
                for stream in silent:
                    if stream not in self._stale:
                        self._stale.add(stream)
                        self._events.on_stale(stream, (now - self._last_message_ns[stream]) / _SECOND_NS)
                for stream in streams:
                    if stream in self._stale and stream not in silent:
                        self._stale.discard(stream)
                        self._events.on_connection_event("stream_recovered", shard, stream)
                connection = self._connections.get(shard)
                if silent and len(silent) == len(streams) and connection is not None:
                    log.warning("every stream of a connection is silent; replacing the connection", shard=shard, streams=len(streams))
                    for stream in streams:
                        self._last_message_ns[stream] = now  # give the new connection a full period
                    await connection.websocket.close(code=4000, reason="stale")

    def stale_streams(self) -> set[str]:
        return set(self._stale)
