"""Reading the record for the engine: a Redis consumer group over the per-channel streams.

Delivery is at-least-once from Redis and exactly-once for the engine's effects: entries are
acknowledged (XACK) in the same MULTI transaction that writes what handling them produced (see
`bot.engine.ledger`). A crash before that transaction leaves the entries pending (in the group's
PEL); on restart they are read again, from the PEL first, and handled once.

On restart the engine also needs its market state (books, bars, indicators, guard windows) as it
was. That state is a function of the entries already handled, so `handled()` pages through
exactly those: per stream, everything before the first pending entry, or up to the group's last
delivered id when nothing is pending (handling happens in merged order and each batch is
acknowledged as a whole, so what is handled is a prefix of every stream).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import redis.asyncio as redis
from redis.exceptions import ResponseError

from bot.bus.event_merge import EventMerger
from bot.bus.redis_codec import EVENT_FIELD, decode_event
from bot.domain.events import EventKind, MarketEvent

# (stream key, entry id) of a released event: what the ledger acknowledges.
EntryRef = tuple[str, bytes]

_PAGE = 1000


def kind_of_channel(channel: str) -> EventKind:
    return EventKind.KLINE if channel.startswith("kline_") else EventKind(channel)


class RedisEventConsumer:
    def __init__(
        self,
        client: redis.Redis,
        streams: dict[str, str],
        group: str,
        consumer: str,
        read_count: int = 500,
        block_milliseconds: int = 200,
    ) -> None:
        """`streams` maps each stream key to its channel (e.g. `trade`, `kline_1m`)."""
        self._client = client
        self._kinds = {key: kind_of_channel(channel) for key, channel in streams.items()}
        self.group = group
        self._consumer = consumer
        self._read_count = read_count
        self._block_milliseconds = block_milliseconds
        self.merger: EventMerger[EntryRef] = EventMerger(list(streams))
        # Per stream: the id to read from next; an explicit id while re-reading our own pending
        # entries after a restart, then ">" (entries never delivered to anyone).
        self._positions: dict[str, str] = {}

    @property
    def stream_keys(self) -> list[str]:
        return list(self._kinds)

    async def ensure_groups(self) -> None:
        """Creates the group on every stream (from the beginning of the record) if missing."""
        for key in self._kinds:
            try:
                await self._client.xgroup_create(key, self.group, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    async def handled_bounds(self) -> dict[str, bytes | None]:
        """Per stream, the id of the last entry already handled (None: nothing handled)."""
        bounds: dict[str, bytes | None] = {}
        for key in self._kinds:
            pending = await self._client.xpending(key, self.group)
            if pending["pending"]:
                first_pending = _as_bytes(pending["min"])
                bounds[key] = await self._entry_before(key, first_pending)
            else:
                groups = await self._client.xinfo_groups(key)
                delivered = next(_as_bytes(g["last-delivered-id"]) for g in groups if _as_text(g["name"]) == self.group)
                bounds[key] = None if delivered == b"0-0" else delivered
        return bounds

    async def _entry_before(self, key: str, entry_id: bytes) -> bytes | None:
        entries = await self._client.xrevrange(key, max=b"(" + entry_id, min="-", count=1)
        return entries[0][0] if entries else None

    async def handled(self, bounds: dict[str, bytes | None]) -> AsyncIterator[list[MarketEvent]]:
        """The already-handled entries, in merged order, in pages: the engine's warm-up."""
        merger: EventMerger[None] = EventMerger(list(self._kinds))
        cursors = {key: b"-" for key, bound in bounds.items() if bound is not None}
        for key in self._kinds:
            if key not in cursors:
                merger.mark_exhausted(key)
        while cursors:
            for key in [key for key in cursors if merger.needs_read(key)]:
                entries = await self._client.xrange(key, min=cursors[key], max=bounds[key], count=_PAGE)
                for entry_id, fields in entries:
                    merger.offer(key, decode_event(self._kinds[key], fields[EVENT_FIELD]), None)
                if len(entries) < _PAGE:
                    merger.mark_exhausted(key)
                    del cursors[key]
                else:
                    cursors[key] = b"(" + entries[-1][0]
            released = merger.release()
            if released:
                yield [event for event, _ in released]
        remaining = merger.drain()
        if remaining:
            yield [event for event, _ in remaining]
        # The live merger continues the running merge keys where the handled record ends.
        self.merger.continue_from(merger.merge_keys())
        self._positions = {key: "0" for key in self._kinds}

    async def next_batch(self) -> list[tuple[MarketEvent, EntryRef]]:
        """Entries ready to handle, in merged order; waits up to the block time when none are."""
        while True:
            # Every stream is read in ONE command each time, buffered or not: "read to its end"
            # then means "as of this one moment" for all of them, and since ingest writes in
            # arrival order, nothing written later can belong before what was read.
            wanted = {key: self._positions.get(key, ">") for key in self._kinds}
            if wanted:
                only_new = all(position == ">" for position in wanted.values())
                block = self._block_milliseconds if only_new and not self.merger.buffered() else None
                replies = await self._client.xreadgroup(self.group, self._consumer, wanted, count=self._read_count, block=block)
                got = {_as_text(key): entries for key, entries in replies or []}
                if block is not None and got:
                    # Woken by one stream; what the others hold now is unknown until read again.
                    for key in wanted:
                        self.merger.mark_unread(key)
                for key, position in wanted.items():
                    entries = got.get(key, [])
                    for entry_id, fields in entries:
                        if fields is None:  # acknowledged meanwhile and trimmed away: nothing to handle
                            continue
                        self.merger.offer(key, decode_event(self._kinds[key], fields[EVENT_FIELD]), (key, entry_id))
                    if position != ">":
                        # Re-reading our pending entries: page past them, then on to new ones.
                        self._positions[key] = _as_text(entries[-1][0]) if len(entries) >= self._read_count else ">"
                    elif len(entries) < self._read_count and block is None:
                        # Only a read that did not block says where a stream ends: a blocked
                        # XREADGROUP is answered with the first stream that got data alone, even
                        # when the same write (one Lua batch) added to the others too.
                        self.merger.mark_exhausted(key)
            released = self.merger.release()
            if released or not wanted:
                return released
            if block is not None and not any(got.values()):
                return []  # nothing new within the block time


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
