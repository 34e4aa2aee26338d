"""What the paper broker needs to know about the market, and one way to provide it.

`MarketView` is the read-only question the paper broker asks; the engine answers it from the
state it already keeps. `BookMarketView` is a ready answer built from market events (a local
order book per symbol, the latest bookTicker, the last trade), used by the tests and usable by
the engine.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from bot.domain.events import AggTrade, BookTicker, DepthUpdate, MarketEvent, PriceLevel, Trade
from bot.domain.orderbook import OrderBook
from bot.domain.trading import Side


class MarketView(Protocol):
    def best_bid(self, symbol: str) -> PriceLevel | None:
        """(price, quantity) of the best bid, or None if unknown."""
        ...

    def best_ask(self, symbol: str) -> PriceLevel | None:
        ...

    def book_levels(self, symbol: str, side: Side, depth: int) -> list[PriceLevel]:
        """The best `depth` levels of one side of the book, best first. `side` names the resting
        orders: Side.BUY is the bids (what a SELL order takes), Side.SELL the asks (what a BUY
        takes). Empty when no depth book is kept for `symbol`."""
        ...

    def last_trade_price(self, symbol: str) -> Decimal | None:
        ...


class BookMarketView:
    """A `MarketView` fed with market events.

    Best bid/ask come from the depth book when one is kept (so they agree with `book_levels`),
    else from the latest bookTicker. The caller keeps the book in sync (bot.domain.orderbook's
    BookSynchronizer decides that); this class only applies what it is given.
    """

    def __init__(self) -> None:
        self._books: dict[str, OrderBook] = {}
        self._tickers: dict[str, BookTicker] = {}
        self._last_prices: dict[str, Decimal] = {}

    def load_snapshot(self, symbol: str, last_update_id: int, bids: list[PriceLevel], asks: list[PriceLevel]) -> None:
        book = self._books.setdefault(symbol, OrderBook(symbol))
        book.load_snapshot(last_update_id, bids, asks)

    def apply(self, event: MarketEvent) -> None:
        if isinstance(event, (Trade, AggTrade)):
            self._last_prices[event.symbol] = event.price
        elif isinstance(event, BookTicker):
            self._tickers[event.symbol] = event
        elif isinstance(event, DepthUpdate) and event.symbol in self._books:
            self._books[event.symbol].apply(event)

    def best_bid(self, symbol: str) -> PriceLevel | None:
        if (book := self._books.get(symbol)) is not None:
            return book.best_bid()
        ticker = self._tickers.get(symbol)
        return None if ticker is None else (ticker.bid_price, ticker.bid_quantity)

    def best_ask(self, symbol: str) -> PriceLevel | None:
        if (book := self._books.get(symbol)) is not None:
            return book.best_ask()
        ticker = self._tickers.get(symbol)
        return None if ticker is None else (ticker.ask_price, ticker.ask_quantity)

    def book_levels(self, symbol: str, side: Side, depth: int) -> list[PriceLevel]:
        book = self._books.get(symbol)
        if book is None:
            return []
        bids, asks = book.top(depth)
        return bids if side is Side.BUY else asks

    def last_trade_price(self, symbol: str) -> Decimal | None:
        return self._last_prices.get(symbol)
