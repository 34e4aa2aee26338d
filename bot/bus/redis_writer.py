"""Pipelined, retrying writes of market events to Redis streams.

Events are appended to an in-memory queue by the (synchronous) ingest path and written by one
task in batches: while one batch is on the wire, the next one accumulates, so batches grow by
themselves under load and stay small (low latency) when the market is quiet.

A batch is one EVALSHA of a short Lua script that XADDs every entry, answered with one reply.
Packing twenty arguments per entry through redis-py's pure-Python encoder and parsing one reply
per entry cost several times more than everything else the ingest path does per message. Each
entry's arguments are laid out in Redis's wire format (RESP) once, when it is appended, so a
batch is a single join of ready bytes: hiredis.pack_command took 0.9 us per entry to do the
same, about a twentieth of what the whole pipeline spends on a message.

A failed batch is never dropped: it is retried with backoff until Redis answers again. Entry ids
are explicit (see redis_codec), so entries of a batch that did reach Redis before the connection
broke are refused the second time instead of being stored twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from collections import deque
from dataclasses import dataclass
from itertools import chain, islice, repeat
from operator import itemgetter
from typing import Callable

import hiredis
import msgspec
import redis.asyncio as redis
import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.backoff import Backoff
from bot.bus.redis_codec import EVENT_FIELD, encode_event, entry_id_parts_of
from bot.bus.redis_keys import RedisKeys, channel_of
from bot.domain.events import MarketEvent

log = structlog.get_logger(__name__)

# KEYS: one stream per entry. ARGV: (max length, entry id, payload) per entry.
# Returns {entries refused as already present, {other errors}}.
_APPEND_SCRIPT = b"""
local refused = 0
local errors = {}
for index = 1, #KEYS do
  local base = (index - 1) * 3
  local reply = redis.pcall('XADD', KEYS[index], 'MAXLEN', '~', ARGV[base + 1], ARGV[base + 2], 'event', ARGV[base + 3])
  if type(reply) == 'table' and reply.err then
    if string.find(reply.err, 'equal or smaller', 1, true) then
      refused = refused + 1
    else
      errors[#errors + 1] = KEYS[index] .. ': ' .. reply.err
    end
  end
end
return {refused, errors}
"""
_APPEND_SHA = hashlib.sha1(_APPEND_SCRIPT).hexdigest()


class StreamSlot:
    """One stream the writer appends to, and the id of its last entry: where the record ends."""

    __slots__ = ("stream_key", "latest_key", "max_length", "milliseconds", "sequence", "packed_key", "packed_max_length", "id_parts")

    def __init__(self, stream_key: str, latest_key: str, max_length: int, channel: str = "") -> None:
        self.stream_key = stream_key
        self.id_parts = entry_id_parts_of(channel)
        self.latest_key = latest_key
        self.max_length = max_length
        self.milliseconds = -1
        self.sequence = -1
        # The script's KEYS and first ARGV of every entry of this stream, as RESP bulk strings.
        self.packed_key = bulk_string(stream_key.encode())
        self.packed_max_length = bulk_string(b"%d" % max_length)


def bulk_string(value: bytes) -> bytes:
    """One RESP bulk string: `$<length>\\r\\n<bytes>\\r\\n`."""
    return b"$%d\r\n%b\r\n" % (len(value), value)


@dataclass(slots=True)
class WriterStatistics:
    entries_written: int = 0
    duplicates_refused: int = 0
    entries_failed: int = 0
    batches_written: int = 0
    batches_retried: int = 0


# A queued entry: its stream key (the script's KEYS) and its (max length, entry id, payload)
# (the script's ARGV), both already RESP bulk strings, and the frame's receive time (ns; 0 for
# bookkeeping entries that no frame caused). The receive time stays last: on_batch_written
# callers read it as entry[-1].
Entry = tuple[bytes, bytes, int]
_PACKED_KEY = itemgetter(0)
_PACKED_ARGUMENTS = itemgetter(1)
_COMMAND_HEAD = b"$7\r\nEVALSHA\r\n" + bulk_string(_APPEND_SHA.encode())


class RedisStreamWriter:
    def __init__(
        self,
        client: redis.Redis,
        keys: RedisKeys,
        max_lengths: dict[str, int],
        batch_size: int = 512,
        backoff: Backoff | None = None,
        on_batch_written: Callable[[list[Entry], float], None] | None = None,
    ) -> None:
        self._client = client
        self._keys = keys
        self._max_lengths = max_lengths
        self._batch_size = batch_size
        self._backoff = backoff or Backoff(initial_seconds=0.1, maximum_seconds=5.0)
        self._on_batch_written = on_batch_written
        self._pending: deque[Entry] = deque()
        self._latest: dict[str, list[object]] = {}
        self._slots: dict[tuple[str, str], StreamSlot] = {}
        self._has_work = asyncio.Event()
        self._batch_done = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.statistics = WriterStatistics()

    @property
    def backlog(self) -> int:
        return len(self._pending)

    def slot(self, channel: str, symbol: str) -> StreamSlot:
        """The slot of one (channel, symbol) stream; callers on the hot path keep it."""
        slot = self._slots.get((channel, symbol))
        if slot is None:
            kind = "kline" if channel.startswith("kline_") else channel
            slot = StreamSlot(self._keys.stream(channel, symbol), self._keys.latest(channel, symbol), self._max_lengths.get(kind, 100_000), channel)
            self._slots[(channel, symbol)] = slot
        return slot

    async def load_cursor(self, channel: str, symbol: str) -> StreamSlot:
        """Reads where a stream's record ends, so a restart continues it instead of repeating it."""
        slot = self.slot(channel, symbol)
        try:
            info = await self._client.xinfo_stream(slot.stream_key)
        except ResponseError:  # no such key: an empty record
            slot.milliseconds = slot.sequence = -1
        else:
            last = info["last-generated-id"]
            milliseconds, _, sequence = (last.decode() if isinstance(last, bytes) else last).partition("-")
            slot.milliseconds, slot.sequence = int(milliseconds), int(sequence)
            if slot.milliseconds == slot.sequence == 0:
                # An empty stream created by a reader (the engine's consumer group): no record yet.
                slot.milliseconds = slot.sequence = -1
        return slot

    def append(self, event: MarketEvent, ts_received: int, slot: StreamSlot | None = None) -> int:
        """Queues one event for its stream and returns the backlog. Cheap and synchronous: called
        once per market message."""
        if slot is None:
            slot = self.slot(channel_of(event), event.symbol)
        milliseconds, sequence = slot.id_parts(event)
        # Exchange times of different streams come from different clocks; never let an id go
        # backwards in time because of that, the sequence part keeps the order.
        if milliseconds < slot.milliseconds:
            milliseconds = slot.milliseconds
        if milliseconds == slot.milliseconds and sequence <= slot.sequence:
            self.statistics.duplicates_refused += 1
            return len(self._pending)
        slot.milliseconds = milliseconds
        slot.sequence = sequence
        payload = encode_event(event)
        entry_id = b"%d-%d" % (milliseconds, sequence)
        arguments = b"%b$%d\r\n%b\r\n$%d\r\n%b\r\n" % (slot.packed_max_length, len(entry_id), entry_id, len(payload), payload)
        self._pending.append((slot.packed_key, arguments, ts_received))
        self._latest[slot.latest_key] = [EVENT_FIELD, payload]
        if not self._has_work.is_set():
            self._idle.clear()
            self._has_work.set()
        return len(self._pending)

    def append_audit(self, stream_key: str, record: dict[str, object], max_length: int = 100_000) -> None:
        """Queues an entry with a server-assigned id, for rare bookkeeping records (gap audits)."""
        arguments = bulk_string(b"%d" % max_length) + bulk_string(b"*") + bulk_string(msgspec.json.encode(record))
        self._pending.append((bulk_string(stream_key.encode()), arguments, 0))
        self._wake()

    def set_latest(self, key: str, fields: list[object]) -> None:
        """Replaces fields of a latest-state hash at the next flush; only the newest value per key is written."""
        self._latest[key] = fields
        self._wake()

    def _wake(self) -> None:
        self._idle.clear()
        self._has_work.set()

    async def drained(self) -> None:
        """Returns once everything appended so far is in Redis."""
        await self._idle.wait()

    async def relieved(self, low_water: int) -> None:
        """Returns once the backlog is down to `low_water` entries: what a congested producer
        waits for, so it resumes while the writer still has a few batches in hand."""
        while len(self._pending) > low_water:
            self._batch_done.clear()
            await self._batch_done.wait()

    async def run(self) -> None:
        while True:
            await self._has_work.wait()
            self._has_work.clear()
            while self._pending or self._latest:
                await self._write_batch_until_done()
            self._idle.set()

    async def _write_batch_until_done(self) -> None:
        count = min(len(self._pending), self._batch_size)
        batch = list(islice(self._pending, count))
        latest, self._latest = self._latest, {}
        attempt = 0
        while True:
            try:
                started = time.perf_counter()
                refused, errors = await self._send(batch, latest)
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
        popleft = self._pending.popleft
        for _ in repeat(None, count):
            popleft()
        for error in errors[:3]:
            log.error("redis refused an entry", error=error)
        self.statistics.entries_written += count - refused - len(errors)
        self.statistics.duplicates_refused += refused
        self.statistics.entries_failed += len(errors)
        self.statistics.batches_written += 1
        self._batch_done.set()
        if self._on_batch_written is not None:
            self._on_batch_written(batch, elapsed)

    async def _send(self, batch: list[Entry], latest: dict[str, list[object]]) -> tuple[int, list[str]]:
        commands = [self._append_command(batch)] if batch else []
        commands += [hiredis.pack_command(("HSET", key, *fields)) for key, fields in latest.items()]
        replies = await self._round_trip(b"".join(commands), len(commands))
        if batch and isinstance(replies[0], NoScriptError):
            # A restarted Redis has forgotten the script: load it and send the batch again.
            await self._client.script_load(_APPEND_SCRIPT)
            replies[0] = (await self._round_trip(self._append_command(batch), 1))[0]
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise RedisConnectionError(f"unexpected reply from Redis: {reply}")
        if not batch:
            return 0, []
        refused, errors = replies[0]
        return int(refused), [error.decode() if isinstance(error, bytes) else str(error) for error in errors]

    @staticmethod
    def _append_command(batch: list[Entry]) -> bytes:
        # EVALSHA sha numkeys, the keys, then (max length, entry id, payload) per entry: joined
        # by C iterators, not a Python loop, since this runs over every entry.
        count = len(batch)
        head = b"*%d\r\n%b%b" % (3 + 4 * count, _COMMAND_HEAD, bulk_string(b"%d" % count))
        return b"".join(chain((head,), map(_PACKED_KEY, batch), map(_PACKED_ARGUMENTS, batch)))

    async def _round_trip(self, packed: bytes, replies: int) -> list[object]:
        pool = self._client.connection_pool
        connection = await pool.get_connection()
        # redis-py runs a write under its socket timeout as a separate task (asyncio.wait_for),
        # which starts only on a later pass of the event loop, and the caller resumes on yet
        # another: two waits behind all the market data queued in the loop, per batch. So the
        # timeout is applied here, to the whole round trip, and lifted from the connection while
        # this writer holds it (others sharing the pool keep it).
        timeout = connection.socket_timeout
        connection.socket_timeout = None
        try:
            _widen_send_buffer(connection)  # every time: a reconnect brings a new socket; one syscall a batch
            async with asyncio.timeout(timeout):
                await connection.send_packed_command(packed)
                answers: list[object] = []
                for _ in range(replies):
                    try:
                        answers.append(await connection.read_response())
                    except ResponseError as error:  # an error reply; the connection is still in step
                        answers.append(error)
            return answers
        except BaseException:
            await connection.disconnect()
            raise
        finally:
            connection.socket_timeout = timeout
            await pool.release(connection)


# A batch is ~150 KB. With the kernel's default send buffer (16 KB, grown slowly) a batch left the
# process in many pieces, each waiting for the event loop to come round to the socket again; on a
# loop busy with market data that was ~10 ms a batch, the writer fell behind and throttled the
# reader. With room for several batches the kernel takes a whole batch in one write.
_SEND_BUFFER_BYTES = 2 * 2**20


def _widen_send_buffer(connection: object) -> None:
    # redis-py offers no socket-option hook for asyncio connections; its stream writer is private,
    # so look it up defensively: without it, writes still work, only in more pieces.
    transport = getattr(getattr(connection, "_writer", None), "transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER_BYTES)
        except OSError as error:  # a platform that refuses: keep the default
            log.debug("could not widen the redis send buffer", error=str(error))
