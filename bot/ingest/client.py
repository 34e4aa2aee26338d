"""The websocket client for Binance combined streams, under Binance's connection rules.

- At most `max_streams_per_connection` (Binance: 1024) streams per connection: more are sharded
  over several connections, each with its own supervisor.
- Streams are subscribed in batches: the first batch in the URL (`/stream?streams=a/b/c`), the
  rest with SUBSCRIBE messages carrying many params each, paced so no connection sends more than
  `control_messages_per_second` (Binance: 5, counting pings and pongs; the default of 4 leaves
  room for the library's keepalive ping).
- The `websockets` library answers the server's pings; our keepalive pings find a dead socket.
- Binance ends every connection at 24 hours. Each is replaced before that: a new one is opened,
  subscribed and held back; the old one is read until it delivers an event as recent (exchange
  time) as the new one's first, then closed and read to its end; then the new one delivers. So
  nothing is missed even when we read behind the exchange, and downstream sees each stream in
  order: the overlap is duplicates, which the sequencers drop, never a spurious gap. A
  `serverShutdown` notice starts the same hand-over at once (the close that follows is part of it).
- An unexpected close is retried with jittered exponential backoff. A connection that dies before
  it has lived `backoff_max_seconds` counts as one more consecutive failure, so an exchange that
  accepts and then drops us is not hammered (Binance bans IPs that reconnect too often). Errors
  that retrying cannot fix (a malformed URL, a handshake refused with 4xx other than 418/429, a
  refused subscription) are fatal and stop the client with `FatalStreamError`.
- A watchdog notes streams that went silent for `stale_after_seconds`; when every stream of a
  connection older than that is silent, the connection is presumed dead and replaced.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass
from functools import partial
from typing import Awaitable, Callable, Protocol

import msgspec
import structlog
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from bot.backoff import Backoff, RateLimiter
from bot.clock import Clock
from bot.domain.events import StreamMessage
from bot.errors import StartupError
from bot.ingest.push_connection import PushConnection, PushConnectionFactory
from bot.ingest.wire import ControlReply, FrameDecoder, FrameError, ServerShutdown
from bot.waiting import first_of

log = structlog.get_logger(__name__)

_SECOND_NS = 1_000_000_000
_CONTROL_WINDOW_NS = 1_050_000_000
# A replacement holds back what it reads until the old connection is done. Streams without an
# exchange time (spot bookTicker) never tell us where it started: past this many it stops reading
# and lets the exchange buffer for it instead of our memory.
_HELD_LIMIT = 4096


class FatalStreamError(StartupError):
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
    """One open websocket and what we know about it. Times are exchange times (ns)."""

    def __init__(self, replacing: bool) -> None:
        self.websocket: PushConnection = None  # type: ignore[assignment]  # set when created, before the handshake
        self.opened_ns = 0
        self.subscribed = False
        self.handing_over = replacing
        self.discarding = False
        self.gate = asyncio.Event()  # set: may deliver; a replacement waits for its predecessor
        if not replacing:
            self.gate.set()
        self.held: list[StreamMessage] = []
        self.hold_limit = _HELD_LIMIT  # counted from the end of subscribing
        self.start_ns: int | None = None  # first event after every stream was subscribed
        self.started = asyncio.Event()
        self.catch_up_ns: int | None = None  # an old connection is read until it reaches this
        self.caught_up = asyncio.Event()
        self.shutdown_notice = asyncio.Event()
        self.silent = asyncio.Event()  # set by the watchdog: every stream quiet for too long
        self.pending_replies: dict[int, asyncio.Future[ControlReply]] = {}
        self.receiver: asyncio.Task[None] = None  # type: ignore[assignment]  # set once connected
        # Reading is paused until this returns (downstream congested, or a replacement holding
        # back); `wake` tells the receiver task to wait for it.
        self.resume_when: Callable[[], Awaitable[object]] | None = None
        self.wake = asyncio.Event()

    def created(self, websocket: PushConnection) -> None:
        self.websocket = websocket

    def note_progress(self, ts_event: int, ts_init: int) -> None:
        if ts_event == ts_init:
            return  # the event carries no exchange time (the decoder used ours): it orders nothing
        if self.start_ns is None and self.subscribed:
            self.start_ns = ts_event
            self.started.set()
        if self.catch_up_ns is not None and ts_event >= self.catch_up_ns:
            self.caught_up.set()


class MarketStreamClient:
    def __init__(
        self, base_url: str, streams: list[str], clock: Clock, events: StreamEvents, settings: StreamClientSettings | None = None,
        drained: Callable[[], Awaitable[None]] | None = None, random_source: random.Random | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._settings = settings or StreamClientSettings()
        self._shards = shard_streams(streams, self._settings.max_streams_per_connection)
        self._clock = clock
        self._events = events
        self._drained = drained
        self._random = random_source or random.Random()  # injectable, so tests can predict the jitter
        # Prices go on as checked text (see DepthUpdateText); the subscribed streams decode in one call.
        self._decoder = FrameDecoder(prices_as_text=True, streams=[stream for shard in self._shards for stream in shard])
        self._request_ids = itertools.count(1)
        self._last_message_ns: dict[str, int] = {}
        self._stale: set[str] = set()
        self._connections: dict[int, _Connection] = {}

    @property
    def shards(self) -> list[list[str]]:
        return self._shards

    async def run(self) -> None:
        """Runs every shard until cancelled; raises FatalStreamError if one cannot go on."""
        try:
            async with asyncio.TaskGroup() as group:
                for index, streams in enumerate(self._shards):
                    group.create_task(self._supervise(index, streams), name=f"stream-shard-{index}")
                group.create_task(self._watch_staleness(), name="stream-watchdog")
        except* FatalStreamError as fatal:
            raise fatal.exceptions[0] from None  # the task group wraps it; callers are promised it bare

    # --- one shard --------------------------------------------------------------------------

    async def _supervise(self, shard: int, streams: list[str]) -> None:
        settings = self._settings
        backoff = Backoff(settings.backoff_initial_seconds, settings.backoff_max_seconds, settings.backoff_multiplier, self._random)
        current, failures = await self._open_with_retry(shard, streams, backoff, 0)
        try:
            while True:
                planned, reason = await self._until_replacement_due(current)
                if planned:  # age or serverShutdown: overlap old and new connections
                    self._events.on_connection_event("handover", shard, reason)
                    replacement, failures = await self._open_with_retry(shard, streams, backoff, 0, replacing=True)
                    try:
                        handed_over = await self._hand_over(shard, current, replacement)
                    except BaseException:
                        await self._close(replacement)
                        raise
                    if not handed_over:  # the replacement died; the old connection still serves
                        await self._close(replacement)
                        failures += 1
                        await asyncio.sleep(backoff.delay(failures))
                        continue
                    current = replacement
                    continue
                self._events.on_connection_event("reconnect", shard, reason)
                await self._close(current)
                lived_seconds = (self._clock.now_ns() - current.opened_ns) / _SECOND_NS
                failures = failures + 1 if lived_seconds < settings.backoff_max_seconds else 1
                current, failures = await self._open_with_retry(shard, streams, backoff, failures)
        finally:
            await self._close(current)

    async def _until_replacement_due(self, connection: _Connection) -> tuple[bool, str]:
        """(planned, reason) once the connection must be replaced."""
        lifetime_ns = int(self._settings.connection_lifetime_seconds * _SECOND_NS)
        remaining = (connection.opened_ns + lifetime_ns - self._clock.now_ns()) / _SECOND_NS
        await first_of(connection.receiver, connection.shutdown_notice, connection.silent, timeout=max(remaining, 0))
        # The exchange closes the connection right after its notice: the notice wins that race.
        if connection.shutdown_notice.is_set():
            return True, "server_shutdown"
        if connection.receiver.done():
            if not connection.receiver.cancelled() and connection.receiver.exception() is not None:
                log.error("stream receive loop failed", exc_info=connection.receiver.exception())
            websocket = connection.websocket
            return False, f"connection closed unexpectedly (code {websocket.close_code} {websocket.close_reason or ''})".rstrip()
        if connection.silent.is_set():
            return False, f"every stream silent for {self._settings.stale_after_seconds} s"
        return True, "lifetime"

    async def _hand_over(self, shard: int, current: _Connection, replacement: _Connection) -> bool:
        """What the exchange sent before `replacement` was subscribed is on `current` only, maybe
        still in flight when we read behind: read `current` up to where `replacement` starts.
        Returns False, closing nothing, when the replacement dies while `current` still lives."""
        try:
            async with asyncio.timeout(self._settings.handover_timeout_seconds):
                await first_of(replacement.started, replacement.receiver, current.receiver)
                if replacement.receiver.done() and not current.receiver.done():
                    log.warning("replacement connection closed before it delivered; keeping the old one", shard=shard)
                    return False
                if replacement.start_ns is not None:
                    current.catch_up_ns = replacement.start_ns
                    current.handing_over = True
                    await first_of(current.caught_up, current.receiver)
        except TimeoutError:
            log.warning("old connection did not catch up with its replacement in time; closing it anyway", shard=shard)
        await self._close(current, drain=True)
        held, replacement.held = replacement.held, []
        replacement.handing_over = False
        replacement.gate.set()  # no await from here to the end of the loop: the held go first
        for message in held:
            self._events.on_message(message)
        return True

    async def _open_with_retry(self, shard: int, streams: list[str], backoff: Backoff, failures: int, replacing: bool = False) -> tuple[_Connection, int]:
        """The open connection and the consecutive failures behind it (0: the first try worked)."""
        while True:
            if failures:
                await asyncio.sleep(backoff.delay(failures))
            try:
                return await self._open(shard, streams, replacing), failures
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
            failures += 1

    async def _open(self, shard: int, streams: list[str], replacing: bool) -> _Connection:
        per_request = self._settings.streams_per_subscribe
        batches = [streams[index:index + per_request] for index in range(0, len(streams), per_request)]
        keepalive = self._settings.keepalive_interval_seconds
        connection = _Connection(replacing)
        # No compression: loopback and LAN links gain nothing, and inflating costs CPU per frame.
        await connect(
            f"{self._base_url}/stream?streams={'/'.join(batches[0])}", open_timeout=self._settings.open_timeout_seconds,
            ping_interval=keepalive, ping_timeout=keepalive, compression=None, max_size=16 * 2**20, close_timeout=2,
            create_connection=PushConnectionFactory(partial(self._on_frame, connection), self._clock.now_ns, connection.created),  # type: ignore[arg-type]
        )
        connection.opened_ns = self._clock.now_ns()
        connection.receiver = asyncio.create_task(self._receive(connection), name=f"stream-receive-{shard}")
        self._connections[shard] = connection
        for stream in streams:
            self._last_message_ns.setdefault(stream, connection.opened_ns)
        try:
            await self._subscribe_rest(connection, batches[1:])
        except BaseException:
            await self._close(connection)
            raise
        connection.hold_limit += len(connection.held)
        connection.subscribed = True
        log.info("stream connection open", shard=shard, streams=len(streams))
        return connection

    async def _subscribe_rest(self, connection: _Connection, batches: list[list[str]]) -> None:
        # A window a little over a second: messages sent exactly 1 s apart can arrive less than
        # 1 s apart after network jitter, and Binance counts on arrival.
        limiter = RateLimiter(self._clock, self._settings.control_messages_per_second, window_ns=_CONTROL_WINDOW_NS)
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
            # A closed connection never answers (Binance closes one that breaks its limits): stop
            # waiting when the receiver ends instead of running out the open timeout.
            await first_of(reply, connection.receiver, timeout=self._settings.open_timeout_seconds)
            if not reply.done():
                connection.pending_replies.pop(request_id, None)
                reply.cancel()
                raise ConnectionError("closed while subscribing") if connection.receiver.done() else TimeoutError("no reply to SUBSCRIBE")
            if reply.result().error is not None:
                raise FatalStreamError(f"subscription refused: {reply.result().error}")

    async def _receive(self, connection: _Connection) -> None:
        """Lives as long as the connection. Messages are handled as they are parsed (_on_frame);
        this task only waits, with reading paused, for what _on_frame cannot wait for itself."""
        websocket = connection.websocket
        closed = asyncio.ensure_future(websocket.wait_closed())
        try:
            while not closed.done():
                await first_of(connection.wake, closed)
                connection.wake.clear()
                if connection.resume_when is not None:
                    await connection.resume_when()
                    connection.resume_when = None
                    websocket.transport.resume_reading()
        finally:
            closed.cancel()
        if websocket.failure is not None:
            raise websocket.failure

    def _pause(self, connection: _Connection, until: Callable[[], Awaitable[object]]) -> None:
        """Stops reading the socket until `until()` returns; TCP then pushes back on the exchange.
        (What the socket read that is being parsed still brings is handled as usual.)"""
        if connection.resume_when is None:
            connection.resume_when = until
            connection.websocket.transport.pause_reading()
            connection.wake.set()

    def _on_frame(self, connection: _Connection, frame: bytes, ts_init: int) -> None:
        try:
            message = self._decoder.decode(frame, ts_init)
        except FrameError as error:
            self._events.on_frame_error(error)
            return
        if type(message) is StreamMessage:
            self._last_message_ns[message.stream] = ts_init
            if connection.handing_over:  # the slow path, only around a hand-over or a close
                if connection.discarding:
                    return
                connection.note_progress(message.event.ts_event, ts_init)
                if not connection.gate.is_set():
                    connection.held.append(message)
                    # Never stop reading while subscribing: the replies come this way too.
                    if connection.subscribed and (connection.started.is_set() or len(connection.held) >= connection.hold_limit):
                        connection.started.set()
                        self._pause(connection, connection.gate.wait)  # the hand-over delivers what is held
                    return
            if self._events.on_message(message) and self._drained is not None:
                self._pause(connection, self._drained)  # downstream is behind
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

    async def _close(self, connection: _Connection, drain: bool = False) -> None:
        """drain: deliver what still comes before the exchange's close frame (the old side of a
        hand-over: it may be there only); else read and drop it, so the close handshake is not
        stuck behind a full receive buffer until the close timeout."""
        connection.discarding, connection.handing_over = not drain, True
        connection.gate.set()
        try:
            await connection.websocket.close()
            if drain and connection.receiver is not None:
                await asyncio.wait({connection.receiver}, timeout=self._settings.handover_timeout_seconds)
        except Exception:  # the socket may already be gone; closing is best effort
            pass
        finally:
            if connection.receiver is not None:
                connection.receiver.cancel()

    # --- staleness ---------------------------------------------------------------------------

    async def _watch_staleness(self) -> None:
        limit_ns = int(self._settings.stale_after_seconds * _SECOND_NS)
        period = min(max(self._settings.stale_after_seconds / 4, 0.05), 1.0)
        while True:
            await asyncio.sleep(period)
            now = self._clock.now_ns()
            for shard, streams in enumerate(self._shards):
                silent = 0
                for stream in streams:
                    quiet_ns = now - self._last_message_ns.get(stream, now)
                    if quiet_ns > limit_ns:
                        silent += 1
                        if stream not in self._stale:
                            self._stale.add(stream)
                            self._events.on_stale(stream, quiet_ns / _SECOND_NS)
                    elif stream in self._stale:  # only a message received moves its time on
                        self._stale.discard(stream)
                        self._events.on_connection_event("stream_recovered", shard, stream)
                connection = self._connections.get(shard)
                # A new connection gets a full period before it is judged. The supervisor closes
                # it, not this loop, so a slow close cannot hold up the other shards.
                if silent == len(streams) and connection is not None and now - connection.opened_ns > limit_ns:
                    connection.silent.set()

    def stale_streams(self) -> set[str]:
        return set(self._stale)

    def disconnected_shards(self) -> list[int]:
        """Shards with no connection delivering right now (never opened, or its receiver ended),
        for readiness: a daemon reconnecting is alive but not ready."""
        return [
            shard for shard in range(len(self._shards))
            if (connection := self._connections.get(shard)) is None
            or connection.receiver is None or connection.receiver.done() or connection.discarding
        ]
