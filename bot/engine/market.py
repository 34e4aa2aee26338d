"""What the engine knows of each market, rebuilt from the record alone.

Books come from `depthSnapshot` entries plus the `depthUpdate` diffs after them, with the same
pure procedure ingest used (`bot.domain.orderbook.BookSynchronizer`), so the engine's book at a
given update id is ingest's book at that id. Best bid/ask comes from the book when it is in sync,
else from the last bookTicker. This is the `MarketView` (bot.execution.market_view) the paper broker fills against.
"""

from __future__ import annotations

from decimal import Decimal

from bot.domain.events import (
    AggTrade,
    BookTicker,
    DepthSnapshot,
    DepthUpdate,
    Kline,
    MarketEvent,
    Trade,
)
from bot.domain.orderbook import BookGapError, BookSynchronizer, Verdict
from bot.domain.trading import Side

Level = tuple[Decimal, Decimal]


class SymbolMarket:
    __slots__ = ("symbol", "book", "best_bid", "best_ask", "last_price", "last_trade_ns", "book_gaps")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.book = BookSynchronizer(symbol)
        self.best_bid: Level | None = None
        self.best_ask: Level | None = None
        self.last_price: Decimal | None = None
        self.last_trade_ns = 0
        self.book_gaps = 0

    @property
    def book_in_sync(self) -> bool:
        """A book is usable from its snapshot on, until a gap in the diffs resets it."""
        return self.book.book.last_update_id >= 0

    def apply(self, event: MarketEvent) -> None:
        if isinstance(event, Trade | AggTrade):
            self.last_price = event.price
            self.last_trade_ns = event.ts_trade
        elif isinstance(event, Kline):
            # A record of klines alone (a backtest over klines) has no trades: the latest close
            # is its last price. One older than the last trade seen is not news.
            if event.ts_event >= self.last_trade_ns:
                self.last_price = event.close
                self.last_trade_ns = event.ts_event
        elif isinstance(event, DepthUpdate):
            self._apply_diff(event)
        elif isinstance(event, DepthSnapshot):
            # The book exactly as ingest held it at `last_update_id`: diffs after it follow.
            self.book.reset()
            self.book.load_snapshot(event.last_update_id, list(event.bids), list(event.asks))
            self._top_from_book()
        elif isinstance(event, BookTicker):
            if not self.book_in_sync:
                self.best_bid = (event.bid_price, event.bid_quantity)
                self.best_ask = (event.ask_price, event.ask_quantity)

    def _apply_diff(self, event: DepthUpdate) -> None:
        if not self.book_in_sync:
            self.book.offer(event)  # before the first snapshot: nothing to apply it to
            return
        verdict = self.book.offer(event)
        if verdict is Verdict.BUFFERED:
            try:
                self.book.try_bridge()  # the first diff after a snapshot
            except BookGapError:
                verdict = Verdict.GAP
        if verdict is Verdict.GAP:
            # The record has a hole here (ingest audited it); wait for its next snapshot.
            self.book_gaps += 1
            self.book.reset()
            return
        self._top_from_book()

    def _top_from_book(self) -> None:
        self.best_bid = self.book.book.best_bid()
        self.best_ask = self.book.book.best_ask()


class MarketState:
    """Every symbol's market; implements the paper broker's `MarketView`."""

    def __init__(self, symbols: list[str]) -> None:
        self.symbols = {symbol: SymbolMarket(symbol) for symbol in symbols}

    def apply(self, event: MarketEvent) -> SymbolMarket | None:
        market = self.symbols.get(event.symbol)
        if market is not None:
            market.apply(event)
        return market

    def best_bid(self, symbol: str) -> Level | None:
        market = self.symbols.get(symbol)
        return market.best_bid if market else None

    def best_ask(self, symbol: str) -> Level | None:
        market = self.symbols.get(symbol)
        return market.best_ask if market else None

    def book_levels(self, symbol: str, side: Side, depth: int) -> list[Level]:
        """The best `depth` levels of the resting `side` (Side.SELL: the asks a BUY takes), best
        first, as `bot.execution.market_view.MarketView` defines it; empty without a book."""
        market = self.symbols.get(symbol)
        if market is None or not market.book_in_sync:
            return []
        bids, asks = market.book.book.top(depth)
        return bids if side is Side.BUY else asks

    def last_trade_price(self, symbol: str) -> Decimal | None:
        market = self.symbols.get(symbol)
        return market.last_price if market else None

    def mark(self, symbol: str) -> Decimal | None:
        """The price positions are valued at: the mid when known, else the last trade."""
        market = self.symbols.get(symbol)
        if market is None:
            return None
        if market.best_bid and market.best_ask:
            return (market.best_bid[0] + market.best_ask[0]) / 2
        return market.last_price

    def marks(self) -> dict[str, Decimal]:
        """Every symbol's mark price that is known."""
        marks = {}
        for symbol in self.symbols:
            mark = self.mark(symbol)
            if mark is not None:
                marks[symbol] = mark
        return marks
