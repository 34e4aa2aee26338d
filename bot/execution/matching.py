"""How the paper broker prices a taker order against the book. Pure functions, Decimal only."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from bot.domain.events import PriceLevel
from bot.domain.symbols import ceil_to_step, floor_to_step
from bot.domain.trading import Side
from bot.execution.fees import BASIS_POINTS


def walk_book(levels: Iterable[PriceLevel], side: Side, quantity: Decimal, limit_price: Decimal | None = None) -> list[PriceLevel]:
    """The (price, quantity) slices an order of `side` takes from `levels` (the opposite side of
    the book, best first), up to `quantity` and never beyond `limit_price`. Each slice is one fill,
    as Binance reports one fill per price level it matched. Fewer than `quantity` in total means
    the book (or the levels given) ran out."""
    taken: list[PriceLevel] = []
    remaining = quantity
    for price, available in levels:
        if remaining <= 0:
            break
        if limit_price is not None and (price > limit_price if side is Side.BUY else price < limit_price):
            break
        if available <= 0:
            continue
        slice_quantity = min(remaining, available)
        taken.append((price, slice_quantity))
        remaining -= slice_quantity
    return taken


def slipped_price(quote_price: Decimal, side: Side, slippage_bps: Decimal, tick_size: Decimal) -> Decimal:
    """The top-of-book price moved against the order by `slippage_bps`, on the tick grid,
    rounded against the order too (a BUY up, a SELL down): the estimate is never flattering."""
    if side is Side.BUY:
        return ceil_to_step(quote_price * (1 + slippage_bps / BASIS_POINTS), tick_size)
    return floor_to_step(quote_price * (1 - slippage_bps / BASIS_POINTS), tick_size)


def notional(slices: Iterable[PriceLevel]) -> Decimal:
    return sum((price * quantity for price, quantity in slices), Decimal(0))
