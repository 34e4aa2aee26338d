"""What the paper broker needs to know about the market.

`MarketView` is the read-only question the paper broker asks; the engine answers it from the
state it already keeps (`bot.engine.market.MarketState`), and the broker tests use that same
answer, so they test the broker against the market view the daemon really gives it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from bot.domain.events import PriceLevel
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
