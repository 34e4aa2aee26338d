"""A local order book kept in step with Binance's diff-depth stream.

Binance's documented procedure (spot "How to manage a local order book correctly"):
  1. open the diff stream and buffer its events;
  2. fetch a depth snapshot over REST;
  3. if the snapshot's lastUpdateId is older than the first buffered event's U, fetch it again;
  4. drop buffered events whose u <= lastUpdateId;
  5. the first kept event must cover lastUpdateId + 1 (U <= lastUpdateId + 1 <= u);
  6. from then on each event's U must be the previous u + 1 (futures: its pu must equal the
     previous u); anything else means events were lost and the book must be rebuilt.
A quantity of 0 removes the level. `BookSynchronizer` is that procedure as a pure state machine:
it decides, the caller does the I/O (fetching snapshots).
"""

from __future__ import annotations

import heapq
from decimal import Decimal
from enum import StrEnum

from bot.domain.events import DepthUpdate, PriceLevel



class OrderBook:
    """Price levels per side. Prices are Decimal keys, so '61837.63000000' and '61837.63' are one level."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.last_update_id = -1

    def load_snapshot(self, last_update_id: int, bids: list[PriceLevel], asks: list[PriceLevel]) -> None:
        self.bids = {price: quantity for price, quantity in bids if quantity}
        self.asks = {price: quantity for price, quantity in asks if quantity}
        self.last_update_id = last_update_id

    def apply(self, update: DepthUpdate) -> None:
        _apply_side(self.bids, update.bids)
        _apply_side(self.asks, update.asks)
        self.last_update_id = update.final_update_id

    def best_bid(self) -> PriceLevel | None:
        if not self.bids:
            return None
        price = max(self.bids)
        return price, self.bids[price]

    def best_ask(self) -> PriceLevel | None:
        if not self.asks:
            return None
        price = min(self.asks)
        return price, self.asks[price]

    def top(self, depth: int) -> tuple[list[PriceLevel], list[PriceLevel]]:
        """The best `depth` levels of each side, best first."""
        bids = heapq.nlargest(depth, self.bids.items())
        asks = heapq.nsmallest(depth, self.asks.items())
        return bids, asks



def _apply_side(side: dict[Decimal, Decimal], levels: tuple[PriceLevel, ...]) -> None:
    # Set every level in one C-level update, then drop the zero quantities (any exponent, e.g.
    # 0E-8): a diff is mostly changes, and this is about twice as fast as a branch per level.
    side.update(levels)
    for price, quantity in levels:
        if not quantity:
            del side[price]


class SyncState(StrEnum):
    WAITING_FOR_SNAPSHOT = "waiting_for_snapshot"
    LIVE = "live"


class Verdict(StrEnum):
    """What the caller should do after offering an event to the synchroniser."""

    APPLIED = "applied"        # the book moved forward
    BUFFERED = "buffered"      # waiting for a snapshot; nothing to do
    STALE = "stale"            # an event the book already contains (overlap); ignore it
    GAP = "gap"                # events were lost: fetch a new snapshot and call `reset`


class BookSynchronizer:
    """Runs Binance's book-sync procedure for one symbol."""

    def __init__(self, symbol: str, max_buffered: int = 10_000) -> None:
        self.book = OrderBook(symbol)
        self.state = SyncState.WAITING_FOR_SNAPSHOT
        self._buffer: list[DepthUpdate] = []
        self._max_buffered = max_buffered

    @property
    def first_buffered_update_id(self) -> int | None:
        return self._buffer[0].first_update_id if self._buffer else None

    def offer(self, update: DepthUpdate) -> Verdict:
        if self.state is SyncState.WAITING_FOR_SNAPSHOT:
            self._buffer.append(update)
            if len(self._buffer) > self._max_buffered:
                del self._buffer[0]  # the snapshot will come later than these; keep the newest
            return Verdict.BUFFERED
        return self._apply_live(update)

    def snapshot_is_too_old(self, last_update_id: int) -> bool:
        """Step 3: a snapshot older than everything buffered cannot be bridged; fetch again."""
        first = self.first_buffered_update_id
        return first is not None and last_update_id < first - 1

    def load_snapshot(self, last_update_id: int, bids: list[PriceLevel], asks: list[PriceLevel]) -> bool:
        """Steps 4-5. Returns True when the book is live; False when the buffered events do not
        yet reach past the snapshot (keep buffering and call `try_bridge` as events arrive)."""
        self.book.load_snapshot(last_update_id, bids, asks)
        self._buffer = [event for event in self._buffer if event.final_update_id > last_update_id]
        return self.try_bridge()

    def try_bridge(self) -> bool:
        if self.book.last_update_id < 0:
            return False
        last = self.book.last_update_id
        self._buffer = [event for event in self._buffer if event.final_update_id > last]
        if not self._buffer:
            return False
        first = self._buffer[0]
        if not first.first_update_id <= last + 1 <= first.final_update_id:
            raise BookGapError(self.book.symbol, last + 1, first.first_update_id)
        self.state = SyncState.LIVE
        buffered, self._buffer = self._buffer, []
        for event in buffered:
            if self._apply_live(event) is Verdict.GAP:
                raise BookGapError(self.book.symbol, self.book.last_update_id + 1, event.first_update_id)
        return True

    def reset(self) -> None:
        """Forget the book and go back to buffering, e.g. after a gap or a reconnect."""
        self.book = OrderBook(self.book.symbol)
        self.state = SyncState.WAITING_FOR_SNAPSHOT
        self._buffer = []

    def _apply_live(self, update: DepthUpdate) -> Verdict:
        last = self.book.last_update_id
        if update.final_update_id <= last:
            return Verdict.STALE
        if update.previous_final_update_id >= 0:
            in_sequence = update.previous_final_update_id == last
        else:
            in_sequence = update.first_update_id <= last + 1
        if not in_sequence:
            return Verdict.GAP
        self.book.apply(update)
        return Verdict.APPLIED


class BookGapError(RuntimeError):
    def __init__(self, symbol: str, expected_update_id: int, got_update_id: int) -> None:
        self.symbol = symbol
        super().__init__(f"{symbol}: depth stream does not bridge the book: expected update {expected_update_id}, got {got_update_id}")
