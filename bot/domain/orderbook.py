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
from collections.abc import Callable, Sequence
from decimal import Decimal
from enum import StrEnum

from bot.domain.events import DepthUpdate, DepthUpdateText, PriceLevel

Level = tuple[Decimal, Decimal] | tuple[str, str]



class OrderBook:
    """Price levels per side, keyed by the price's text without the zeros after its point, so
    '61837.63000000' and '61837.63' are one level.

    Diffs from the stream carry prices and quantities as the exchange's text (DepthUpdateText).
    Keying by Decimal would cost a parse and, worse, a Decimal hash (several times the parse) for
    every level of every diff, most of them prices the book has not seen before; a string hashes in
    a fraction of that. Quantities are kept as text too (Decimal input is written out once), and
    only what is read (the top of the book) becomes Decimal.
    """

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids = _Side()
        self.asks = _Side()
        self.last_update_id = -1
        self._prices = _PriceValues()

    def load_snapshot(self, last_update_id: int, bids: Sequence[Level], asks: Sequence[Level]) -> None:
        self.bids, self.asks = _Side(), _Side()
        _apply_levels(self.bids, bids)
        _apply_levels(self.asks, asks)
        self.last_update_id = last_update_id

    def apply(self, update: DepthUpdate | DepthUpdateText) -> None:
        _apply_levels(self.bids, update.bids)
        _apply_levels(self.asks, update.asks)
        self.last_update_id = update.final_update_id

    def best_bid(self) -> PriceLevel | None:
        best = self._best(self.bids, 1, heapq.nlargest)
        return best[0] if best else None

    def best_ask(self) -> PriceLevel | None:
        best = self._best(self.asks, 1, heapq.nsmallest)
        return best[0] if best else None

    def top(self, depth: int) -> tuple[list[PriceLevel], list[PriceLevel]]:
        """The best `depth` levels of each side, best first."""
        return self._best(self.bids, depth, heapq.nlargest), self._best(self.asks, depth, heapq.nsmallest)

    def _best(self, side: _Side, count: int, select: Callable[..., list[tuple[Decimal, str]]]) -> list[PriceLevel]:
        """The best `count` levels of a side, best first.

        Scanning the whole side (thousands of levels, most far from the top) on every read cost
        more than applying all the diffs in between. So each read leaves `leaders`: prices known
        to rank above every other price of the side, best first; and the side notes the prices
        added after it. Prices do not move, so a price that is neither a leader nor added still
        ranks below every leader left; while at least `count` leaders are left, the leaders and
        the additions hold the answer."""
        leaders = [price for price in side.leaders if price in side]
        partial = side.added is not None and len(leaders) >= count
        # A leader removed and added again is in both: count it once.
        candidates = leaders + [price for price in side.added.difference(leaders) if price in side] if partial else list(side)  # type: ignore[union-attr]
        # (Decimal, text) pairs built in C; heapq compares the pairs directly (distinct texts).
        best = select(max(count, _LEADERS), zip(map(self._prices.__getitem__, candidates), candidates))
        chosen = [price for _, price in best]
        if partial and leaders[-1] in chosen:
            # Below the worst leader left, an unread price may outrank a chosen one: stop there.
            chosen = chosen[:chosen.index(leaders[-1]) + 1]
        side.leaders = chosen
        side.added = set()
        return [(price, Decimal(side[text])) for price, text in best[:count]]


_LEADERS = 64


class _Side(dict[str, str]):
    """One side's levels (price text -> quantity text), and what the next read of its top needs:
    the best prices at the last read, and the prices added since (None: nobody has read yet)."""

    def __init__(self) -> None:
        super().__init__()
        self.leaders: list[str] = []
        self.added: set[str] | None = None


class _PriceValues(dict[str, Decimal]):
    """Price text -> Decimal, made on first use: ordering the levels reads the same prices again
    and again. Starts over past a bound, so prices long gone from the book do not pile up."""

    _LIMIT = 100_000

    def __missing__(self, text: str) -> Decimal:
        if len(self) > self._LIMIT:
            self.clear()
        value = self[text] = Decimal(text)
        return value


def _apply_levels(side: _Side, levels: Sequence[Level]) -> None:
    if levels and type(levels[0][0]) is not str:  # Decimals (REST snapshots, tests): one form for all
        levels = [(format(price, "f"), format(quantity, "f")) for price, quantity in levels]
    added = side.added
    for price, quantity in levels:
        if "." in price:  # one key per price however many zeros the exchange wrote after the point
            price = price.rstrip("0").rstrip(".")
        # Quantities are checked plain numerals (bot.ingest.wire.plain_numerals): zero exactly when
        # nothing is left after stripping zeros and the point.
        if quantity.strip("0."):
            if added is not None and price not in side:
                added.add(price)
            side[price] = quantity
        else:
            side.pop(price, None)


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
        self._buffer: list[DepthUpdate | DepthUpdateText] = []
        self._max_buffered = max_buffered

    @property
    def first_buffered_update_id(self) -> int | None:
        return self._buffer[0].first_update_id if self._buffer else None

    def offer(self, update: DepthUpdate | DepthUpdateText) -> Verdict:
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

    def load_snapshot(self, last_update_id: int, bids: Sequence[Level], asks: Sequence[Level]) -> bool:
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

    def _apply_live(self, update: DepthUpdate | DepthUpdateText) -> Verdict:
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
