"""The ingest service: Binance streams in, an exact and complete record in Redis out.

Per channel (symbol x kind) a Sequencer drops what the record already holds and spots what it is
missing. A gap in trades, aggregate trades or closed klines is fetched again over REST while the
live events behind it wait in that channel's queue, so the record stays in exchange order with
every event once. A gap in the depth stream cannot be fetched again: the diffs are still recorded,
the gap is audited, and the local order book is rebuilt from a new snapshot.

The record in Redis is also the restart point: each channel resumes after its stream's last id.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Callable

import msgspec
import structlog

from bot.bus.redis_codec import EVENT_FIELD, encode_event, last_sequence
from bot.bus.redis_keys import RedisKeys
from bot.bus.redis_writer import RedisStreamWriter, StreamSlot
from bot.clock import Clock
from bot.domain.events import EventKind, MarketEvent, StreamMessage
from bot.domain.orderbook import OrderBook
from bot.ingest.backfill import fetch_agg_trades, fetch_klines, fetch_trades
from bot.ingest.books import BookKeeper
from bot.ingest.client import MarketStreamClient, StreamClientSettings
from bot.ingest.metrics import IngestMetrics
from bot.ingest.rest import RestError, RestGateway
from bot.ingest.sequencer import Gap, Outcome, Sequencer, sequencer_for
from bot.ingest.wire import FrameError, stream_kind

log = structlog.get_logger(__name__)

# Exchange and local clocks differ by milliseconds; an event stamped minutes in our future is
# broken, and accepting it would make every real event after it look old.
_MAX_TIME_AHEAD_NS = 600 * 1_000_000_000



@dataclass(frozen=True)
class IngestSettings:
    symbols: list[str]
    streams: list[str]
    depth_snapshot_limit: int = 1000
    backfill_max_records: int = 100_000
    # Past this many entries waiting for Redis the websocket is not read until the backlog is
    # back under half: memory stays bounded and TCP pushes back on the exchange. Two of the
    # writer's largest batches (redis.write_batch_size, 2048 by default) keep it busy without
    # letting latency grow; 8192 measured no better.
    congestion_backlog: int = 4096
    client: StreamClientSettings = field(default_factory=StreamClientSettings)


def stream_name(symbol: str, stream: str) -> str:
    """Binance's stream name, e.g. ('BTCUSDT', 'depth@100ms') -> 'btcusdt@depth@100ms'."""
    return f"{symbol.lower()}@{stream}"


def stream_names(symbols: list[str], streams: list[str]) -> list[str]:
    return [stream_name(symbol, stream) for symbol in symbols for stream in streams]


@dataclass
class _Channel:
    sequencer: Sequencer
    slot: StreamSlot
    repairing: bool = False
    waiting: list[MarketEvent] = field(default_factory=list)


class IngestService:
    def __init__(
        self,
        settings: IngestSettings,
        clock: Clock,
        keys: RedisKeys,
        writer: RedisStreamWriter,
        rest: RestGateway,
        websocket_base_url: str,
        metrics: IngestMetrics,
        book_listener: Callable[[OrderBook], None] | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._keys = keys
        self._writer = writer
        self._rest = rest
        self._metrics = metrics
        self._channels: dict[tuple[str, str], _Channel] = {}
        self._depth_gaps: dict[str, list[Gap]] = {}
        depth_symbols = settings.symbols if any(_channel_name(stream) == "depthUpdate" for stream in settings.streams) else []
        self.books = BookKeeper(
            depth_symbols, clock, rest, writer, keys, metrics, settings.depth_snapshot_limit,
            listener=book_listener, on_in_sync=self._depth_gap_repaired,
        )
        self._repairs: set[asyncio.Task[None]] = set()
        self._error_samples_logged: dict[tuple[str, str], int] = {}
        self._message_counts = metrics.messages.counts
        self._lag = {kind: metrics.receive_lag.series(kind.value) for kind in EventKind}
        self._routes: dict[str, _Channel] = {}  # stream name -> its channel
        self._congestion_backlog = settings.congestion_backlog
        self.client = MarketStreamClient(
            websocket_base_url, stream_names(settings.symbols, settings.streams), clock, self,
            settings.client, drained=lambda: writer.relieved(settings.congestion_backlog // 2),
        )

    # --- lifecycle ---------------------------------------------------------------------------

    async def restore(self) -> None:
        """Resumes every channel after the last entry of its Redis stream (crash-only start-up)."""
        for symbol in self._settings.symbols:
            for stream in self._settings.streams:
                channel = _channel_name(stream)
                slot = await self._writer.load_cursor(channel, symbol)
                last = last_sequence(channel, slot.milliseconds, slot.sequence)
                state = self._channels[(symbol, channel)] = _Channel(sequencer_for(symbol, channel, last), slot)
                self._routes[stream_name(symbol, stream)] = state
                if last is not None:
                    log.info("resuming channel after its recorded end", symbol=symbol, channel=channel, last=last)

    async def run(self) -> None:
        await self.restore()
        # Books start syncing at their first diff (BookKeeper.offer): a snapshot fetched before
        # the stream is open could never be bridged and would only cost REST weight.
        try:
            await self.client.run()
        finally:
            repairs = list(self._repairs)
            for task in repairs:
                task.cancel()
            await asyncio.gather(*repairs, self.books.stop(), return_exceptions=True)

    async def wait_idle(self) -> None:
        """Waits until no gap repair or book sync is running and everything is in Redis."""
        while self._repairs or self.books.syncing:
            await asyncio.sleep(0.01)
        self.books.publish_all()
        await self._writer.drained()

    # --- StreamEvents: called by the websocket client -----------------------------------------

    def on_message(self, message: StreamMessage) -> bool:
        event = message.event
        kind = event.kind
        ts_event, ts_init = event.ts_event, event.ts_init
        self._message_counts[kind] += 1
        if ts_event != ts_init:  # spot bookTicker has no exchange time: no lag to tell
            self._lag[kind].observe((ts_init - ts_event) / 1e9)
        channel = self._routes.get(message.stream)
        if channel is None or event.symbol != channel.sequencer.symbol or ts_event - ts_init > _MAX_TIME_AHEAD_NS:
            # Well-formed but implausible: a stream we did not ask for, another symbol's event, or
            # an exchange time far in our future. Recording it would move the channel's cursor
            # to where no real event can follow.
            self.on_frame_error(FrameError("invalid_value", kind.value, _implausible(message, channel), msgspec.json.encode(event)))
            return False
        if kind is EventKind.KLINE and not event.is_closed:  # type: ignore[attr-defined]
            # A bar still forming is a working value: kept as latest state, not in the record.
            self._writer.set_latest(channel.slot.latest_key, [EVENT_FIELD, encode_event(event)])
            return False
        return self._on_channel_event(channel, event) > self._congestion_backlog

    def on_frame_error(self, error: FrameError) -> None:
        self._metrics.parse_errors.labels(error.kind, error.reason).inc()
        key = (error.kind, error.reason)
        logged = self._error_samples_logged.get(key, 0)
        self._error_samples_logged[key] = logged + 1
        # The first few of each kind in full, then one in a thousand: a flood must not drown the log.
        if logged < 5 or logged % 1000 == 0:
            log.warning("skipped a bad frame", kind=error.kind, reason=error.reason, detail=error.detail, sample=error.sample.decode("utf-8", "replace"), seen=logged + 1)

    def on_connection_event(self, kind: str, shard: int, detail: str) -> None:
        if kind == "reconnect":
            self._metrics.reconnects.inc()
            log.warning("stream connection lost; reconnecting", shard=shard, detail=detail)
        elif kind == "handover":
            self._metrics.handovers.labels(detail).inc()
            log.info("replacing stream connection", shard=shard, reason=detail)
        elif kind == "connect_failed":
            self._metrics.connect_failures.inc()
            log.warning("could not open stream connection", shard=shard, detail=detail)
        elif kind == "stream_recovered":
            self._metrics.stale_streams_now.set(len(self.client.stale_streams()))
            log.info("stream delivering again", stream=detail)

    def on_stale(self, stream: str, silent_seconds: float) -> None:
        self._metrics.stale_streams.inc()
        self._metrics.stale_streams_now.set(len(self.client.stale_streams()))
        log.warning("stream is stale", stream=stream, silent_seconds=round(silent_seconds, 1))

    # --- ordering, duplicates and gaps --------------------------------------------------------

    def _on_channel_event(self, channel: _Channel, event: MarketEvent) -> int:
        """Records, holds back or drops one event of a channel; returns the writer's backlog."""
        if channel.repairing:
            channel.waiting.append(event)
            return self._writer.backlog
        if channel.sequencer.advance(event):  # the next event, as nearly always: no verdict to build
            return self._record(channel, event)
        outcome, gap = channel.sequencer.check(event)
        if outcome is Outcome.DUPLICATE:
            self._metrics.duplicates.labels(event.kind.value).inc()
            return self._writer.backlog
        if outcome is Outcome.GAP and event.kind is not EventKind.DEPTH_UPDATE:
            channel.repairing = True
            channel.waiting.append(event)
            self._start_repair(channel, gap)
            return self._writer.backlog
        if gap is not None:  # a depth gap: the diff is still recorded; the book is rebuilt
            self._note_gap_found(gap)
            self._depth_gaps.setdefault(event.symbol, []).append(gap)
        channel.sequencer.accept(event)
        return self._record(channel, event)

    def _record(self, channel: _Channel, event: MarketEvent) -> int:
        """Appends an accepted event to the record (and a depth diff to its book); the backlog."""
        backlog = self._writer.append(event, event.ts_init, channel.slot)
        if event.kind is EventKind.DEPTH_UPDATE:
            self.books.offer(event)  # type: ignore[arg-type]
        return backlog

    def _note_gap_found(self, gap: Gap) -> None:
        self._metrics.gaps_found.labels(gap.channel).inc()
        log.warning("gap in market data", symbol=gap.symbol, channel=gap.channel, first=gap.first, last=gap.last)
        self._audit(gap, "found")

    def _depth_gap_repaired(self, symbol: str) -> None:
        # The book is whole again; the depth stream itself keeps the hole, which the audit says.
        for gap in self._depth_gaps.pop(symbol, []):
            self._metrics.gaps_repaired.labels(gap.channel).inc()
            self._audit(gap, "repaired", by="new depth snapshot (the diffs themselves stay missing)")

    def _start_repair(self, channel: _Channel, gap: Gap) -> None:
        self._note_gap_found(gap)
        task = asyncio.create_task(self._repair(channel, gap), name=f"repair-{gap.symbol}-{gap.channel}")
        self._repairs.add(task)
        task.add_done_callback(self._repairs.discard)

    async def _repair(self, channel: _Channel, gap: Gap) -> None:
        try:
            # In records, not sequence units: a kline gap spans interval-sized steps of nanoseconds.
            records = (gap.last - gap.first) // (channel.sequencer.step or 1) + 1
            if records > self._settings.backfill_max_records:
                if await self._beyond_the_exchange(gap, channel):
                    return  # the event that showed the "gap" was implausible and is dropped
                raise RestError(f"gap of {records} records is over backfill_max_records={self._settings.backfill_max_records}")
            events = await self._fetch(gap)
            holes = 0
            for event in events:
                outcome, hole = channel.sequencer.check(event)
                if hole is not None:
                    # The exchange itself has no data there (klines of a maintenance window): keep
                    # what it does have and audit the hole on its own.
                    holes += 1
                    self._metrics.gaps_unrepaired.labels(gap.channel).inc()
                    self._audit(hole, "unrepaired", error="not available over REST")
                if outcome is not Outcome.DUPLICATE:
                    channel.sequencer.accept(event)
                    self._writer.append(event, event.ts_init, channel.slot)
            self._metrics.backfilled.labels(gap.channel).inc(len(events))
            if channel.sequencer.last is None or channel.sequencer.last < gap.last:
                raise RestError(f"REST returned data only up to {channel.sequencer.last}, gap ends at {gap.last}")
            if holes == 0:
                self._metrics.gaps_repaired.labels(gap.channel).inc()
            log.info("gap repaired over REST", symbol=gap.symbol, channel=gap.channel, events=len(events), holes_left=holes)
            self._audit(gap, "repaired" if holes == 0 else "partly repaired", events=len(events))
        except asyncio.CancelledError:
            # Stopping mid-repair: what queued behind the gap stays unwritten (and the channel stays
            # closed), so the record still ends before the gap and the next start fetches it again.
            raise
        except Exception as error:
            # Whatever failed, the repair ends in a verdict and ingest moves past the gap; else the
            # first queued event would find the same gap again at once, and again, forever.
            self._metrics.gaps_unrepaired.labels(gap.channel).inc()
            reason = str(error) or type(error).__name__
            log.error(
                "gap could not be repaired; the record has a hole", symbol=gap.symbol, channel=gap.channel,
                first=gap.first, last=gap.last, error=reason, exc_info=not isinstance(error, (RestError, TimeoutError)),
            )
            self._audit(gap, "unrepaired", error=reason)
            channel.sequencer.last = max(channel.sequencer.last or gap.last, gap.last)
        self._resume(channel)

    def _resume(self, channel: _Channel) -> None:
        """Lets the events that waited behind a gap through, in order."""
        channel.repairing = False
        waiting, channel.waiting = channel.waiting, []
        for index, event in enumerate(waiting):
            self._on_channel_event(channel, event)
            if channel.repairing:  # another gap behind this one: the rest waits again, in order
                channel.waiting.extend(waiting[index + 1:])
                break

    async def _beyond_the_exchange(self, gap: Gap, channel: _Channel) -> bool:
        """A jump too large to fetch is either real downtime or a broken id. Asks the exchange for
        its newest trade: an id past it cannot be real, and that event is dropped instead of
        becoming the channel's cursor (which would make every real trade after it look old)."""
        if gap.channel not in ("trade", "aggTrade"):
            return False
        method, field_name = ("get_recent_trades", "id") if gap.channel == "trade" else ("get_aggregate_trades", "a")
        newest = await self._rest.call(method, symbol=gap.symbol, limit=1)
        suspect = channel.waiting[0]
        if not newest or suspect.sequence <= int(newest[-1][field_name]):  # type: ignore[attr-defined]
            return False
        self.on_frame_error(FrameError("invalid_value", gap.channel, f"id {suspect.sequence} is past the exchange's newest {newest[-1][field_name]}", msgspec.json.encode(suspect)))  # type: ignore[attr-defined]
        channel.waiting.pop(0)
        self._resume(channel)
        return True

    async def _fetch(self, gap: Gap) -> list[MarketEvent]:
        if gap.channel == "trade":
            return await fetch_trades(self._rest, self._clock, gap.symbol, gap.first, gap.last)
        if gap.channel == "aggTrade":
            return await fetch_agg_trades(self._rest, self._clock, gap.symbol, gap.first, gap.last)
        if gap.channel.startswith("kline_"):
            interval = gap.channel.removeprefix("kline_")
            return await fetch_klines(self._rest, self._clock, gap.symbol, interval, gap.first, gap.last)
        raise RestError(f"no REST source for channel {gap.channel}")

    def _audit(self, gap: Gap, state: str, **detail: object) -> None:
        record = {"symbol": gap.symbol, "channel": gap.channel, "first": gap.first, "last": gap.last, "state": state, "ts": self._clock.now_ns()}
        self._writer.append_audit(self._keys.gaps(), record | detail)

def _implausible(message: StreamMessage, channel: _Channel | None) -> str:
    event = message.event
    if channel is None:
        return f"no configured channel for stream {message.stream!r}"
    if event.symbol != channel.sequencer.symbol:
        return f"symbol {event.symbol!r} on stream {message.stream!r}"
    return f"exchange time {event.ts_event} is more than {_MAX_TIME_AHEAD_NS // 1_000_000_000} s ahead of the local clock"


def _channel_name(stream: str) -> str:
    """The channel a configured stream feeds: 'depth@100ms' -> 'depthUpdate', 'kline_1m' stays."""
    if stream.startswith("kline_"):
        return stream
    kind = stream_kind(f"x@{stream}")
    if kind is None:
        raise ValueError(f"unknown stream kind {stream!r}")
    return kind
