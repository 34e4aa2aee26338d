"""Pipelined, retrying writes of market events to Redis streams.

Events are appended to an in-memory queue by the (synchronous) ingest path and written by one
task in pipelined batches: while one batch is on the wire, the next one accumulates, so batches
grow by themselves under load and stay small (low latency) when the market is quiet.

A failed batch is never dropped: it is retried with backoff until Redis answers again. Entry ids
are explicit (see redis_codec), so entries of a batch that did reach Redis before the connection
broke are refused the second time instead of being stored twice.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

import redis.asyncio as redis
import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.bus.redis_codec import encode_fields, entry_id_parts
from bot.bus.redis_keys import RedisKeys, channel_of
from bot.domain.events import MarketEvent
from bot.backoff import Backoff

log = structlog.get_logger(__name__)

_DUPLICATE_ID = "equal or smaller than the target stream top item"


@dataclass(slots=True)
class StreamCursor:
    """The id of the last entry of one stream: where the durable record ends."""

    milliseconds: int = -1
    sequence: int = -1

    def is_behind(self, milliseconds: int, sequence: int) -> bool:
        return (milliseconds, sequence) > (self.milliseconds, self.sequence)


@dataclass(slots=True)
class WriterStatistics:
    entries_written: int = 0
    duplicates_refused: int = 0
    batches_written: int = 0
    batches_retried: int = 0
    write_seconds: list[float] = field(default_factory=list)


class RedisStreamWriter:
    def __init__(
        self,
        client: redis.Redis,
        keys: RedisKeys,
        max_lengths: dict[str, int],
        batch_size: int = 512,
        backoff: Backoff | None = None,
        on_batch_written=None,
    ) -> None:
        self._client = client
        self._keys = keys
        self._max_lengths = max_lengths
        self._batch_size = batch_size
        self._backoff = backoff or Backoff(initial_seconds=0.1, maximum_seconds=5.0)
        self._on_batch_written = on_batch_written
        self._pending: deque[tuple[str, str, list[object], int, int]] = deque()
        self._latest: dict[str, list[object]] = {}
        self._cursors: dict[str, StreamCursor] = {}
        self._has_work = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.statistics = WriterStatistics()

    @property
    def backlog(self) -> int:
        return len(self._pending)

    async def load_cursor(self, stream_key: str) -> StreamCursor:
        """Reads where a stream's record ends, so a restart continues it instead of repeating it."""
        try:
            info = await self._client.xinfo_stream(stream_key)
        except ResponseError:  # no such key: an empty record
            cursor = StreamCursor()
        else:
            last = info["last-generated-id"]
            milliseconds, _, sequence = (last.decode() if isinstance(last, bytes) else last).partition("-")
            cursor = StreamCursor(int(milliseconds), int(sequence))
        self._cursors[stream_key] = cursor
        return cursor

    def append(self, event: MarketEvent, ts_received: int) -> None:
        """Queues one event for its stream. Cheap and synchronous: called once per market message."""
        channel = channel_of(event)
        stream_key = self._keys.stream(channel, event.symbol)
        cursor = self._cursors.get(stream_key)
        if cursor is None:
            cursor = self._cursors[stream_key] = StreamCursor()
        milliseconds, sequence = entry_id_parts(event)
        # Exchange times of different streams come from different clocks; never let an id go
        # backwards in time because of that, the sequence part keeps the order.
        if milliseconds < cursor.milliseconds:
            milliseconds = cursor.milliseconds
        if not cursor.is_behind(milliseconds, sequence):
            self.statistics.duplicates_refused += 1
            return
        cursor.milliseconds, cursor.sequence = milliseconds, sequence
        fields = encode_fields(event)
        self._pending.append((stream_key, f"{milliseconds}-{sequence}", fields, self._max_lengths.get(event.kind.value, 100_000), ts_received))
        self._latest[self._keys.latest(channel, event.symbol)] = fields
        self._idle.clear()
        self._has_work.set()

    def append_audit(self, stream_key: str, fields: list[object], max_length: int = 100_000) -> None:
        """Queues an entry with a server-assigned id, for rare bookkeeping records (gap audits)."""
        self._pending.append((stream_key, "*", fields, max_length, 0))
        self._idle.clear()
        self._has_work.set()

    def set_latest(self, key: str, fields: list[object]) -> None:
        """Replaces a latest-state hash at the next flush; only the newest value per key is written."""
        self._latest[key] = fields
        self._idle.clear()
        self._has_work.set()

    async def drained(self) -> None:
        """Returns once everything appended so far is in Redis."""
        await self._idle.wait()

    async def run(self) -> None:
        while True:
            await self._has_work.wait()
            self._has_work.clear()
            while self._pending or self._latest:
                await self._write_batch_until_done()
            self._idle.set()

    async def _write_batch_until_done(self) -> None:
        count = min(len(self._pending), self._batch_size)
        batch = [self._pending[index] for index in range(count)]
        latest, self._latest = self._latest, {}
        attempt = 0
        while True:
            try:
                started = time.perf_counter()
                results = await self._send(batch, latest)
                elapsed = time.perf_counter() - started
                break
            except (RedisConnectionError, RedisTimeoutError, OSError) as error:
                # Redis is down or unreachable: keep everything and try again; nothing is lost
                # while memory lasts, and the caller sees the backlog grow.
                attempt += 1
                self.statistics.batches_retried += 1
                delay = self._backoff.delay(attempt)
                log.warning("redis write failed, retrying", error=str(error), attempt=attempt, retry_in_seconds=round(delay, 3), backlog=len(self._pending))
                await asyncio.sleep(delay)
        for _ in range(count):
            self._pending.popleft()
        refused = sum(1 for result in results[:count] if isinstance(result, ResponseError) and _DUPLICATE_ID in str(result))
        other_errors = [result for result in results if isinstance(result, Exception) and _DUPLICATE_ID not in str(result)]
        for error in other_errors[:3]:
            log.error("redis refused a write", error=str(error))
        self.statistics.entries_written += count - refused
        self.statistics.duplicates_refused += refused
        self.statistics.batches_written += 1
        if self._on_batch_written is not None:
            self._on_batch_written(batch, elapsed)

    async def _send(self, batch, latest: dict[str, list[object]]) -> list[object]:
        async with self._client.pipeline(transaction=False) as pipe:
            for stream_key, entry_id, fields, max_length, _ in batch:
                pipe.execute_command("XADD", stream_key, "MAXLEN", "~", max_length, entry_id, *fields)
            for key, fields in latest.items():
                pipe.execute_command("HSET", key, *fields)
            return await pipe.execute(raise_on_error=False)
