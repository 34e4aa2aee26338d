"""Moves closed klines, trades and aggTrades from the Redis streams into the lake's raw layer.

Streams are trimmed by the ingest writer (`XADD MAXLEN ~ n`), so the archive has to take entries
before the trim reaches them. Per stream it keeps a cursor in Redis (`<ns>:archive:cursors`, the id
of the last entry stored) and advances it only after the batch's files are durable: a crash
re-reads at most the last batch, and since file names come from the rows and rows a file of the
archive already covers are left out, that never stores a row twice.

If the stream's oldest entry lies beyond the cursor with a hole in the exchange sequence between
them (trade ids are consecutive, kline open times one interval apart), entries were trimmed before
they were archived: that is logged, counted and audited in `<ns>:archive:audit`, naming the range.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import msgspec
import redis.asyncio as redis
import structlog

from bot.bus.redis_codec import decode_entry, last_sequence
from bot.bus.redis_keys import RedisKeys
from bot.clock import Clock
from bot.config.streams import DEFAULT_STREAM_MAX_LENGTH
from bot.domain.events import MILLISECONDS, EventKind
from bot.lake.layout import AGG_TRADES, KLINES, TRADES
from bot.lake.records import agg_trade_row, kline_row, trade_row
from bot.lake.writer import RawWriter
from bot.sim.source import KLINE_INTERVAL_MS

log = structlog.get_logger(__name__)

_AUDIT_MAX_LENGTH = 10_000
_SOURCE = "archive"


@dataclass(frozen=True, slots=True)
class ArchivedStream:
    key: str
    channel: str
    symbol: str

    @property
    def kind(self) -> str:
        return KLINES if self.channel.startswith("kline_") else TRADES if self.channel == "trade" else AGG_TRADES

    @property
    def event_kind(self) -> EventKind:
        return EventKind.KLINE if self.kind == KLINES else EventKind.TRADE if self.kind == TRADES else EventKind.AGG_TRADE

    @property
    def interval(self) -> str | None:
        return self.channel.removeprefix("kline_") if self.kind == KLINES else None

    @property
    def step(self) -> int | None:
        """The sequence distance of two consecutive entries (None: not fixed, e.g. 1M klines)."""
        if self.kind != KLINES:
            return 1
        milliseconds = KLINE_INTERVAL_MS.get(self.interval or "")
        return None if milliseconds is None else milliseconds * MILLISECONDS


@dataclass
class ArchiveReport:
    streams: int = 0
    entries_archived: int = 0
    rows_written: int = 0
    files_written: list[str] = field(default_factory=list)
    entries_lost: int = 0  # trimmed before they were archived
    audits: list[dict[str, object]] = field(default_factory=list)


def _id_parts(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence)


class StreamArchiver:
    def __init__(
        self, client: redis.Redis, keys: RedisKeys, writer: RawWriter, clock: Clock,
        batch_size: int = 100_000, max_lengths: dict[str, int] | None = None,
    ) -> None:
        self._client = client
        self._keys = keys
        self._writer = writer
        self._clock = clock
        self._batch_size = batch_size
        self._max_lengths = max_lengths or dict(DEFAULT_STREAM_MAX_LENGTH)

    async def streams(self) -> list[ArchivedStream]:
        """The kline, trade and aggTrade streams of the namespace, sorted by key."""
        prefix = f"{self._keys.namespace}:stream:"
        found = []
        async for raw in self._client.scan_iter(match=f"{prefix}*", count=1000):
            key = raw.decode() if isinstance(raw, bytes) else raw
            channel, _, symbol = key.removeprefix(prefix).partition(":")
            if channel in ("trade", "aggTrade") or channel.startswith("kline_"):
                found.append(ArchivedStream(key, channel, symbol))
        return sorted(found, key=lambda stream: stream.key)

    async def archive_once(self) -> ArchiveReport:
        """One pass: every archived stream up to its current end."""
        report = ArchiveReport()
        for stream in await self.streams():
            report.streams += 1
            await self._archive_stream(stream, report)
        status = self._keys.archive_status()
        pipe = self._client.pipeline(transaction=False)
        pipe.hincrby(status, "entries_archived", report.entries_archived)
        pipe.hincrby(status, "rows_written", report.rows_written)
        pipe.hincrby(status, "files_written", len(report.files_written))
        pipe.hset(status, mapping={"last_pass_ns": self._clock.now_ns(), "last_pass_streams": report.streams})
        await pipe.execute()
        return report

    async def run(self, interval_seconds: float, stop: asyncio.Event) -> None:
        """The daemon task: a pass every interval; a failed pass is logged and tried again. Once
        `stop` is set it makes a last pass (the daemon sets it after flushing ingest to Redis)
        and returns, so a clean stop leaves the lake up to date without cutting a pass short."""
        while True:
            final = stop.is_set()
            await self._logged_pass()
            if final:
                return
            try:
                await asyncio.wait_for(stop.wait(), interval_seconds)
            except TimeoutError:
                pass

    async def _logged_pass(self) -> None:
        try:
            report = await self.archive_once()
        except Exception as error:  # noqa: BLE001 - a full disk or a dead Redis must not stop the daemon
            log.error("archive pass failed; the cursors stay where they were", error=f"{type(error).__name__}: {error}")
            try:
                await self._client.hset(self._keys.archive_status(), "last_error", str(error))
            except Exception:  # noqa: BLE001 - Redis itself may be what failed
                pass
        else:
            if report.entries_archived:
                log.info("archived to the lake", entries=report.entries_archived, files=len(report.files_written),
                         lost_before_archive=report.entries_lost)

    async def _archive_stream(self, stream: ArchivedStream, report: ArchiveReport) -> None:
        cursors = self._keys.archive_cursors()
        stored = await self._client.hget(cursors, stream.key)
        cursor = stored.decode() if stored is not None else None
        if cursor is not None:
            await self._audit_trimmed(stream, cursor, report)
        archived_now = 0
        while True:
            start = f"({cursor}" if cursor is not None else "-"
            entries = await self._client.xrange(stream.key, min=start, max="+", count=self._batch_size)
            if not entries:
                break
            rows = []
            for _, fields in entries:
                event = decode_entry(stream.event_kind, fields)
                if stream.kind == KLINES:
                    if event.is_closed:  # type: ignore[attr-defined]
                        rows.append(kline_row(event, _SOURCE, event.ts_init))  # type: ignore[arg-type]
                elif stream.kind == TRADES:
                    rows.append(trade_row(event, _SOURCE, event.ts_init))  # type: ignore[arg-type]
                else:
                    rows.append(agg_trade_row(event, _SOURCE, event.ts_init))  # type: ignore[arg-type]
            result = await asyncio.to_thread(self._writer.write, stream.kind, stream.symbol, rows, _SOURCE, stream.interval)
            # Only now, with the files durable, does the cursor move past these entries.
            last_id = entries[-1][0]
            cursor = last_id.decode() if isinstance(last_id, bytes) else last_id
            await self._client.hset(cursors, stream.key, cursor)
            report.entries_archived += len(entries)
            report.rows_written += result.rows_written
            report.files_written += result.files_written
            archived_now += len(entries)
            if len(entries) < self._batch_size:
                break
        kind = "kline" if stream.kind == KLINES else stream.channel
        limit = self._max_lengths.get(kind, 100_000)
        if archived_now > limit // 2:
            # Half the retention went by between two passes: a little busier and the trim wins.
            log.warning("the archive took more than half a stream's retention in one pass; run it more often "
                        "(lake.archive_interval_seconds) or keep more (redis.stream_max_length)",
                        stream=stream.key, entries=archived_now, max_length=limit)

    async def _audit_trimmed(self, stream: ArchivedStream, cursor: str, report: ArchiveReport) -> None:
        oldest = await self._client.xrange(stream.key, min="-", max="+", count=1)
        if not oldest or _id_parts(oldest[0][0]) <= _id_parts(cursor):
            return  # the archived entry (or one before it) is still there: nothing was trimmed unseen
        step = stream.step
        if step is None:
            return
        archived = last_sequence(stream.channel, *_id_parts(cursor))
        available = last_sequence(stream.channel, *_id_parts(oldest[0][0]))
        assert archived is not None and available is not None
        expected = archived + step
        if available <= expected:
            return
        missing = (available - expected) // step
        record: dict[str, object] = {
            "symbol": stream.symbol, "channel": stream.channel, "first": expected, "last": available - step,
            "missing": missing, "cursor": cursor,
            "oldest_entry": oldest[0][0].decode() if isinstance(oldest[0][0], bytes) else oldest[0][0],
            "ts": self._clock.now_ns(),
        }
        log.error("entries were trimmed from a stream before they were archived; they are not in the lake",
                  stream=stream.key, first=expected, last=available - step, missing=missing)
        await self._client.xadd(self._keys.archive_audit(), {"event": msgspec.json.encode(record)},
                                maxlen=_AUDIT_MAX_LENGTH, approximate=True)
        await self._client.hincrby(self._keys.archive_status(), "entries_lost", missing)
        await self._client.hincrby(self._keys.archive_status(), "audits", 1)
        report.entries_lost += missing
        report.audits.append(record)
