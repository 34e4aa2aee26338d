"""Merging several per-channel streams of the record into the one order the engine handles.

The record keeps one stream per (channel, symbol), each in exchange order. The engine must see
them as one sequence, and the same sequence on every run over the same record, or its decisions
would depend on the timing of reads. The order used is *arrival order*: events are merged by
their `ts_init` (when ingest received them), which is the only clock every channel shares (spot
bookTicker and depth snapshots carry no exchange time at all). Within one stream `ts_init` is not
always rising (a backfilled trade is stamped when its REST page arrived, after live trades that
wait behind it), so each entry's merge key is the running maximum of `ts_init` in its stream:
rising by construction, and a pure function of the record.

An entry is released only when no other stream could still deliver an earlier one: every stream
either has a buffered entry or has been read to its end. Over a complete record that yields the
same total order whatever the read sizes. Live, it yields the same order too, provided "read to
its end" is true of one moment for all streams (the Redis consumer reads them all in one
command) and the record is written in arrival order (ingest's writer is): whatever is written
after that moment arrived later than everything read. A test runs the bundled recording live
twice and compares every decision.

Pure: no I/O. The Redis consumer and the in-memory bus feed it.
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import Generic, TypeVar

from bot.domain.events import MarketEvent

Payload = TypeVar("Payload")


class _Lane(Generic[Payload]):
    __slots__ = ("rank", "entries", "exhausted", "merge_key")

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.entries: deque[tuple[int, MarketEvent, Payload]] = deque()
        self.exhausted = False
        self.merge_key = 0


class EventMerger(Generic[Payload]):
    """Buffers entries per stream and releases them in the merged order.

    `Payload` is whatever the caller needs back with each event (the Redis consumer passes the
    stream key and entry id, to acknowledge it later).
    """

    def __init__(self, streams: list[str]) -> None:
        # The rank (position in the sorted stream list) breaks ties of equal merge keys, so two
        # events received in the same nanosecond still come out in one fixed order.
        self._lanes: dict[str, _Lane[Payload]] = {stream: _Lane(rank) for rank, stream in enumerate(sorted(streams))}

    @property
    def streams(self) -> list[str]:
        return list(self._lanes)

    def merge_keys(self) -> dict[str, int]:
        return {stream: lane.merge_key for stream, lane in self._lanes.items()}

    def continue_from(self, merge_keys: dict[str, int]) -> None:
        """Carries the running merge keys on from another merger that read the record before."""
        for stream, merge_key in merge_keys.items():
            self._lanes[stream].merge_key = merge_key

    def offer(self, stream: str, event: MarketEvent, payload: Payload) -> None:
        lane = self._lanes[stream]
        if event.ts_init > lane.merge_key:
            lane.merge_key = event.ts_init
        lane.entries.append((lane.merge_key, event, payload))
        lane.exhausted = False

    def mark_exhausted(self, stream: str) -> None:
        """The stream has been read to its current end: it may not hold the others back."""
        self._lanes[stream].exhausted = True

    def mark_unread(self, stream: str) -> None:
        """The stream may have grown since it was read to its end: it holds the others back
        again until it is read."""
        self._lanes[stream].exhausted = False

    def needs_read(self, stream: str) -> bool:
        lane = self._lanes[stream]
        return not lane.entries and not lane.exhausted

    def buffered(self) -> int:
        return sum(len(lane.entries) for lane in self._lanes.values())

    def release(self) -> list[tuple[MarketEvent, Payload]]:
        """Every entry that can be released now, in merged order."""
        released: list[tuple[MarketEvent, Payload]] = []
        heads = [(lane.entries[0][0], lane.rank, stream) for stream, lane in self._lanes.items() if lane.entries]
        heapq.heapify(heads)
        blocked = any(not lane.entries and not lane.exhausted for lane in self._lanes.values())
        while heads and not blocked:
            _, rank, stream = heapq.heappop(heads)
            lane = self._lanes[stream]
            _, event, payload = lane.entries.popleft()
            released.append((event, payload))
            if lane.entries:
                heapq.heappush(heads, (lane.entries[0][0], rank, stream))
            elif not lane.exhausted:
                blocked = True  # this stream may hold earlier entries than the others: read it first
        return released

    def drain(self) -> list[tuple[MarketEvent, Payload]]:
        """Everything buffered, in merged order, regardless of unread streams (end of a record)."""
        for lane in self._lanes.values():
            lane.exhausted = True
        return self.release()
