"""The local replay exchange: a loopback server that speaks Binance Spot's market-data wire protocol
(websocket streams + public REST) and replays REAL recorded data. It never fabricates market data.

Design notes
============

Timeline and cursor
    Every loaded recording becomes a list of events with a timeline time: the recorder's receive
    time for websocket captures (hftbacktest recv_time_ns, cryptofeed recv_time_s), the exchange
    time for table rows (trade / aggregate trade time, kline close time). All recordings are merged
    into ONE timeline (stable: ties keep the order of the recordings list, then file order). The
    exchange has one global cursor, its "now", that moves through this timeline; a connection
    receives an event when the cursor passes it and the connection is subscribed to its stream.
    Nothing is replayed per connection: a client that is away misses what happens meanwhile, as on
    the live exchange, and must recover it over REST.

Pacing
    speed=1.0 is real time, speed=N is N times faster (delays from the injected Clock plus
    asyncio.sleep); the clock starts with the first subscription and then never waits for anyone.
    speed=None ("max") runs as fast as the slowest subscribed connection reads: each connection has
    a backlog of at most `send_buffer_frames`, and the cursor waits when one is full. In max mode
    the cursor PAUSES while nobody is subscribed, so a test that reconnects does not lose the rest
    of the file; and what a dropped connection had queued but not yet written goes to the next
    connection (in max mode the reader sets the pace, so unsent events have not happened yet).
    A drop that loses data is asked for with `outage_ns`: the cursor then keeps running for that
    much timeline time with nobody connected, and those events reach clients only through REST.
    advance_unattended(duration_ns) does the same on demand (None: run to the end), e.g. to let
    REST see the whole recording without a websocket client.
    With loop=True the timeline starts over at the end (ids and times repeat; REST rewinds too).

What the REST side can see
    Only records whose event the cursor has passed (trades, aggregate trades, klines, depth diffs):
    the exchange cannot serve the future. GET /time answers the highest exchange event time (E, or
    T for table rows) passed so far. Trades come from whichever recording holds them (recorded
    trade frames, or a trades CSV; recorded frames win where both cover an id). quoteQty is the
    recorded value when the source has one, else price*qty computed exactly with Decimal.

Recorded REST answers
    An exchangeInfo body (a .json object) and an all-symbols GET /ticker/24hr answer (a .json
    array) are single moments, not series: they are served as recorded whatever the cursor's
    position (bot.sim.ticker_24hr).

Depth snapshots
    GET /depth serves the latest recorded REST snapshot the cursor has passed, plus every recorded
    diff the cursor has passed whose final id u is above that snapshot's lastUpdateId (quantity 0
    removes a level), exactly Binance's documented diff semantics. Before the first snapshot point
    the recorded snapshot itself is served: its lastUpdateId is then ahead of the stream, which the
    client's sync procedure handles by waiting. Levels beyond the snapshot's depth (1000) that no
    diff touched are unknown, so deep limits may return fewer levels than Binance would.

Klines from tables
    Only closed bars are recorded. Each bar yields two events: an update with "x": false at the
    bar's close time (E = T), then the closed kline with "x": true at T + 1 ms. The update carries
    the bar's final recorded values: intra-bar values were not recorded and are never invented, and
    placing it at the close time means no value is seen before it was true. f/L (first/last trade
    id) are -1 (unknown); fields missing from the file (taker volumes, trade count) are null. REST
    /klines shows a bar once its first event has passed the cursor, so never a partial bar.

Websocket protocol
    /ws/<stream>[/<stream>...] (raw payloads) and /stream?streams=a/b (combined wrapper);
    SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY/GET_PROPERTY "combined", with
    Binance's error objects. More than 5 messages in a sliding second, or more than 1024 streams,
    closes the connection (1008) and is counted. The server pings every ping_interval_s and the
    websockets library disconnects a client that does not pong within pong_timeout_s. Frames are
    the recorded bytes, encoded once at load time, batched into single socket writes.

Weights
    ping 1, time 1, exchangeInfo 20, depth 5/25/50/250 (limit <=100/<=500/<=1000/more), trades 25,
    historicalTrades 25, aggTrades 4, klines 2, ticker/24hr 2 (symbol), 2/40/80 (symbols: 1-20,
    21-100, more), 80 (all), in a calendar-minute window from the injected Clock.
    Over weight_limit_per_minute: HTTP 429, Retry-After = seconds to the next minute, code -1003.
    Rejected requests still count, as on Binance. No 418 ban escalation.

Faults
    drop_connections / drop_after_frames (abrupt: already-written frames leave, then the TCP
    connection ends without a close frame; clean: close 1001), stall_stream / release_stream
    (frames during a stall are lost to the stream), send_malformed (a damaged copy of the next real
    frame, inserted before it or replacing it), skip_ids (REST keeps them), server_shutdown. The
    same through POST /sim/faults on the REST port with {"fault": <method name>, <keyword
    arguments>}; GET /sim/counters and GET /sim/status report. drop_after_frames counts frames sent
    over all connections together.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

import structlog

from bot.clock import Clock, WallClock
from bot.sim.counters import ExchangeCounters
from bot.sim.faults import MALFORMED_KINDS, FaultState
from bot.sim.replay import ReplayCursor
from bot.sim.rest import RestApi
from bot.sim.settings import ReplaySettings
from bot.sim.stream_server import StreamServer
from bot.sim.timeline import Timeline, load_timeline

log = structlog.get_logger(__name__)

_CONTROL_FAULTS = (
    "advance_unattended",
    "drop_connections",
    "drop_after_frames",
    "stall_stream",
    "release_stream",
    "send_malformed",
    "skip_ids",
    "server_shutdown",
)


class ReplayExchange:
    """timeline: an already loaded Timeline (from bot.sim.timeline.load_timeline) to share between
    runs; it is only read. By default start() loads settings.recordings."""

    def __init__(
        self, settings: ReplaySettings, clock: Clock | None = None, timeline: Timeline | None = None
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or WallClock()
        self.counters = ExchangeCounters()
        self.faults = FaultState()
        self._timeline: Timeline | None = timeline
        self._streams: StreamServer | None = None
        self._rest: RestApi | None = None
        self._cursor: ReplayCursor | None = None
        self._cursor_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        timeline = self._timeline
        if timeline is None:
            # Parsing tens of MB is blocking work: keep it off the event loop.
            timeline = await asyncio.to_thread(load_timeline, list(self.settings.recordings))
            self._timeline = timeline
        streams = StreamServer(self.settings, timeline, self.faults, self.counters, self.clock)
        cursor = ReplayCursor(self.settings, timeline, streams, self.faults, self.counters, self.clock)
        streams.on_subscribed = cursor.wake
        streams.on_outage = cursor.begin_outage
        streams.on_rewind = cursor.rewind
        rest = RestApi(
            self.settings, timeline, lambda: cursor.position, self.counters, self.clock,
            self.apply_fault, self.status,
        )
        self._streams, self._cursor, self._rest = streams, cursor, rest
        await streams.start()
        await rest.start()
        self._cursor_task = asyncio.create_task(cursor.run(), name="sim-replay-cursor")
        log.info(
            "sim.exchange.started",
            ws=self.ws_base_url,
            rest=self.rest_base_url,
            events=len(timeline),
            streams=sorted(timeline.stream_names()),
            speed=self.settings.speed or "max",
        )

    async def stop(self) -> None:
        if self._cursor_task is not None:
            self._cursor_task.cancel()
            await asyncio.gather(self._cursor_task, return_exceptions=True)
            self._cursor_task = None
        if self._streams is not None:
            await self._streams.stop()
        if self._rest is not None:
            await self._rest.stop()
        # Only what happened: most counters are zero on an ordinary run.
        log.info("sim.exchange.stopped", **{name: value for name, value in self.counters.as_dict().items() if value})

    async def __aenter__(self) -> ReplayExchange:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.stop()

    # -- where and when -------------------------------------------------------------------------

    @property
    def ws_base_url(self) -> str:
        return f"ws://{self._url_host()}:{self._started(self._streams).port}"

    @property
    def rest_base_url(self) -> str:
        return f"http://{self._url_host()}:{self._started(self._rest).port}"

    @property
    def timeline(self) -> Timeline:
        return self._started(self._timeline)

    @property
    def position(self) -> int:
        """Timeline events the cursor has passed."""
        return self._started(self._cursor).position

    @property
    def finished(self) -> bool:
        return self._started(self._cursor).finished.is_set()

    def server_time_ms(self) -> int:
        return self.timeline.server_time_ms(self.position)

    async def wait_finished(self) -> None:
        """Until the timeline is exhausted and every open connection has written what it was given.
        With loop=True the timeline never ends."""
        cursor = self._started(self._cursor)
        await cursor.finished.wait()
        streams = self._started(self._streams)
        while any(
            connection.backlog or connection.websocket.transport.get_write_buffer_size()
            for connection in list(streams.connections)
            if not (connection.halted or connection.closed)
        ):
            await asyncio.sleep(0.005)

    def advance_unattended(self, duration_ns: int | None = None) -> None:
        """Let the exchange run on with nobody subscribed for duration_ns of timeline time (None:
        to the end), as a live exchange does while a client is away."""
        cursor = self._started(self._cursor)
        times = self.timeline.times_ns
        if duration_ns is None:
            duration_ns = (times[-1] - cursor.current_time_ns() + 1) if times else 0
        cursor.begin_outage(duration_ns)

    def status(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "events": len(self.timeline),
            "finished": self.finished,
            "server_time_ms": self.server_time_ms(),
            "connections": len(self._started(self._streams).connections),
            "passes_completed": self._started(self._cursor).passes_completed,
        }

    # -- faults ---------------------------------------------------------------------------------

    def drop_connections(self, mode: str = "abrupt", outage_ns: int = 0) -> int:
        """Drop every open stream connection now; returns how many."""
        return self._started(self._streams).drop_connections(mode, outage_ns)

    def drop_after_frames(self, frames: int, mode: str = "abrupt", outage_ns: int = 0, times: int = 1) -> None:
        """Drop every connection once `frames` more frames have been sent in total (repeated
        `times` times, every `frames` frames)."""
        if frames < 1 or times < 1:
            raise ValueError("frames and times must be at least 1")
        self._started(self._streams).schedule_drop(frames, mode, outage_ns, times)

    def stall_stream(self, stream: str, duration_ns: int | None = None) -> None:
        """Stop sending one stream's frames (the connection stays up) for duration_ns of timeline
        time, or until release_stream(). Frames during the stall are lost to the stream."""
        until = None if duration_ns is None else self._started(self._cursor).current_time_ns() + duration_ns
        self.faults.stalled[stream] = until

    def release_stream(self, stream: str) -> None:
        self.faults.stalled.pop(stream, None)

    def send_malformed(self, kind: str, stream: str | None = None, replace: bool = False) -> None:
        """Insert a malformed copy of the next frame of `stream` (any subscribed stream if None);
        the real frame follows unless replace=True. Kinds: truncated_json, unknown_event,
        missing_field, wrong_type."""
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"unknown malformed frame kind {kind!r}; one of {', '.join(MALFORMED_KINDS)}")
        self.faults.add_malformed(kind, stream, replace)

    def skip_ids(self, stream: str, first_id: int, last_id: int) -> None:
        """The live stream omits trades / aggregate trades with ids in [first_id, last_id]; REST
        still has them."""
        if last_id < first_id:
            raise ValueError(f"empty id range [{first_id}, {last_id}]")
        self.faults.skipped_ids.setdefault(stream, []).append((first_id, last_id))

    def server_shutdown(self) -> int:
        """Send {"e":"serverShutdown"} to every connection, then close it (1001)."""
        return self._started(self._streams).server_shutdown(self.server_time_ms())

    async def apply_fault(self, request: dict[str, Any]) -> dict[str, Any]:
        """The body of POST /sim/faults: {"fault": <name>, <keyword arguments>}."""
        arguments = dict(request)
        name = arguments.pop("fault", None)
        if name not in _CONTROL_FAULTS:
            raise ValueError(f"unknown fault {name!r}; one of {', '.join(_CONTROL_FAULTS)}")
        try:
            result = getattr(self, name)(**arguments)
        except TypeError as error:
            raise ValueError(f"bad arguments for {name}: {error}") from error
        log.info("sim.fault.applied", fault=name, arguments=arguments)
        return {"fault": name, "result": result}

    # -- helpers --------------------------------------------------------------------------------

    def _url_host(self) -> str:
        host = self.settings.host
        return f"[{host}]" if ":" in host else host

    @staticmethod
    def _started(part: Any) -> Any:
        if part is None:
            raise RuntimeError("the replay exchange is not started")
        return part


async def serve_forever(settings: ReplaySettings, clock: Clock | None = None) -> None:
    """Run the replay exchange until cancelled (the `tradebot exchange-sim` command)."""
    async with ReplayExchange(settings, clock) as exchange:
        log.info("sim.exchange.serving", ws=exchange.ws_base_url, rest=exchange.rest_base_url)
        await asyncio.Event().wait()
