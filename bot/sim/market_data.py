"""REST-side views of the recorded market, limited to what the replay cursor has passed.

A record is visible once the cursor is past its timeline position. Ids are assigned by the exchange
in order, so a record is treated as visible only when every lower id is too (prefix maximum of
positions): this keeps "visible" a prefix of the id order and lets every query be a bisect.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from decimal import Decimal
from itertools import accumulate

from bot.sim.records import AggTradeRecord, DepthDiff, DepthSnapshot, KlineRecord, TradeRecord


class _VisiblePrefix:
    def __init__(self, positions: list[int]) -> None:
        self._visible_after = list(accumulate(positions, max))

    def count(self, cursor_position: int) -> int:
        """How many records (a prefix) the cursor has passed."""
        return bisect_left(self._visible_after, cursor_position)


class TradeHistory:
    """Raw trades of one symbol, ordered by id."""

    def __init__(self, trades: list[TradeRecord]) -> None:
        self._trades = trades
        self._ids = [trade.trade_id for trade in trades]
        self._visible = _VisiblePrefix([trade.position for trade in trades])

    def recent(self, limit: int, cursor_position: int) -> list[TradeRecord]:
        end = self._visible.count(cursor_position)
        return self._trades[max(0, end - limit) : end]

    def from_id(self, from_id: int, limit: int, cursor_position: int) -> list[TradeRecord]:
        end = self._visible.count(cursor_position)
        start = bisect_left(self._ids, from_id, 0, end)
        return self._trades[start : min(end, start + limit)]


class AggTradeHistory:
    """Aggregate trades of one symbol, ordered by aggregate id."""

    def __init__(self, aggs: list[AggTradeRecord]) -> None:
        self._aggs = aggs
        self._ids = [agg.agg_id for agg in aggs]
        # Exchange times never decrease with the id; the running maximum guards a bad file.
        self._times = list(accumulate((agg.time_ms for agg in aggs), max))
        self._visible = _VisiblePrefix([agg.position for agg in aggs])

    def recent(self, limit: int, cursor_position: int) -> list[AggTradeRecord]:
        end = self._visible.count(cursor_position)
        return self._aggs[max(0, end - limit) : end]

    def from_id(self, from_id: int, limit: int, cursor_position: int) -> list[AggTradeRecord]:
        end = self._visible.count(cursor_position)
        start = bisect_left(self._ids, from_id, 0, end)
        return self._aggs[start : min(end, start + limit)]

    def between(
        self, start_ms: int | None, end_ms: int | None, limit: int, cursor_position: int
    ) -> list[AggTradeRecord]:
        visible = self._visible.count(cursor_position)
        stop = visible if end_ms is None else bisect_right(self._times, end_ms, 0, visible)
        if start_ms is None:
            return self._aggs[max(0, stop - limit) : stop]
        start = bisect_left(self._times, start_ms, 0, visible)
        return self._aggs[start : min(stop, start + limit)]


class KlineHistory:
    """Closed bars of one symbol and interval. A bar appears once its first event (the update at
    its close time) has been replayed: the recording holds no values from inside a bar."""

    def __init__(self, bars: list[KlineRecord]) -> None:
        self._bars = bars
        self._open_times = [bar.open_time_ms for bar in bars]
        self._visible = _VisiblePrefix([bar.position for bar in bars])

    def query(
        self, start_ms: int | None, end_ms: int | None, limit: int, cursor_position: int
    ) -> list[KlineRecord]:
        visible = self._visible.count(cursor_position)
        stop = visible if end_ms is None else bisect_right(self._open_times, end_ms, 0, visible)
        if start_ms is None:
            return self._bars[max(0, stop - limit) : stop]
        start = bisect_left(self._open_times, start_ms, 0, visible)
        return self._bars[start : min(stop, start + limit)]


class _BookSide:
    """One side of a book: exact price string and quantity string per price level."""

    def __init__(self, levels: list[list[str]]) -> None:
        self.levels: dict[Decimal, tuple[str, str]] = {}
        self.apply(levels)

    def apply(self, changes: list[list[str]]) -> None:
        for price, quantity in changes:
            key = Decimal(price)
            if Decimal(quantity) == 0:
                self.levels.pop(key, None)
            else:
                self.levels[key] = (price, quantity)

    def top(self, limit: int, descending: bool) -> list[list[str]]:
        keys = sorted(self.levels, reverse=descending)[:limit]
        return [list(self.levels[key]) for key in keys]


class OrderBookReplay:
    """The book of one symbol as Binance's REST depth would show it at the cursor.

    Start from the latest recorded snapshot the cursor has passed and apply every recorded diff the
    cursor has passed whose final update id u is above the snapshot's lastUpdateId (a diff received
    just before the snapshot can still be newer). Before the first snapshot, that snapshot itself is
    served: its lastUpdateId is then ahead of the stream, which a client's sync procedure handles by
    waiting for the stream to catch up. The cursor only moves forward, so the built book is cached
    and extended.
    """

    def __init__(self, snapshots: list[DepthSnapshot], diffs: list[DepthDiff]) -> None:
        self._snapshots = snapshots
        self._diffs = diffs
        self._diff_positions = [diff.position for diff in diffs]
        self._snapshot_positions = [snapshot.position for snapshot in snapshots]
        self._snapshot_index = -1
        self._applied = 0
        self._bids = _BookSide([])
        self._asks = _BookSide([])
        self._last_update_id = 0

    def depth(self, limit: int, cursor_position: int) -> dict[str, object]:
        snapshot_index = max(bisect_left(self._snapshot_positions, cursor_position) - 1, 0)
        snapshot = self._snapshots[snapshot_index]
        if snapshot.position >= cursor_position:
            return {
                "lastUpdateId": snapshot.last_update_id,
                "bids": snapshot.bids[:limit],
                "asks": snapshot.asks[:limit],
            }
        self._advance(snapshot_index, cursor_position)
        return {
            "lastUpdateId": self._last_update_id,
            "bids": self._bids.top(limit, descending=True),
            "asks": self._asks.top(limit, descending=False),
        }

    def _advance(self, snapshot_index: int, cursor_position: int) -> None:
        end = bisect_left(self._diff_positions, cursor_position)
        if snapshot_index != self._snapshot_index or end < self._applied:
            snapshot = self._snapshots[snapshot_index]
            self._snapshot_index = snapshot_index
            self._bids = _BookSide(snapshot.bids)
            self._asks = _BookSide(snapshot.asks)
            self._last_update_id = snapshot.last_update_id
            self._applied = 0
        snapshot_id = self._snapshots[snapshot_index].last_update_id
        for diff in self._diffs[self._applied : end]:
            if diff.final_update_id <= snapshot_id:
                continue
            self._bids.apply(diff.bids)
            self._asks.apply(diff.asks)
            self._last_update_id = max(self._last_update_id, diff.final_update_id)
        self._applied = end
