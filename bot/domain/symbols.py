"""A symbol's trading rules (Binance's exchangeInfo filters), rounding to them, and checking orders.

Binance never rounds an order to its filters: a price off the tick or a quantity off the step is
refused (-1013 "Filter failure: ..."). So the bot rounds before it sends, and the paper broker
refuses exactly what Binance would refuse, with the same code and text
(`bot.domain.rejections`). Filter semantics follow Binance's spot `filters.md`.

Rounding policy (both directions protect the account, never the fill rate):
- quantities round DOWN to the step: never spend more than sized, never sell more than held;
- limit prices round toward the passive side: a BUY rounds DOWN (never pays more than the
  strategy allowed), a SELL rounds UP (never sells for less).

Pure: no I/O, no clock; the caller reads exchangeInfo and passes the parsed JSON in.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import msgspec

from bot.domain.rejections import (
    BAD_SYMBOL,
    FILTER_FAILURE,
    INVALID_SYMBOL,
    MANDATORY_PARAMETER,
    MARKET_CLOSED,
    NEW_ORDER_REJECTED,
    PARAMETER_NOT_REQUIRED,
    PRICE_NOT_REQUIRED,
    PRICE_REQUIRED,
    OrderRejected,
    filter_failure,
)
from bot.domain.trading import OrderRequest, OrderType, Side

ZERO = Decimal(0)


class SymbolRules(msgspec.Struct, frozen=True, kw_only=True):
    """The filters of one symbol. A zero bound means "disabled", as in Binance's filters.

    `notional_filter` names the filter the exchange uses for the notional bounds: `MIN_NOTIONAL`
    (older exchangeInfo, minimum only) or `NOTIONAL` (since 2023, min and max, each with its own
    applies-to-market switch); the refusal text names it. Market-lot fields are None when the
    symbol has no MARKET_LOT_SIZE filter; percent-price multipliers are None without
    PERCENT_PRICE / PERCENT_PRICE_BY_SIDE (PERCENT_PRICE sets both sides alike), and
    `percent_price_filter` names which one the symbol has.
    """

    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal = ZERO
    min_price: Decimal = ZERO
    max_price: Decimal = ZERO
    step_size: Decimal = ZERO
    min_qty: Decimal = ZERO
    max_qty: Decimal = ZERO
    market_step_size: Decimal | None = None
    market_min_qty: Decimal | None = None
    market_max_qty: Decimal | None = None
    notional_filter: str = ""
    min_notional: Decimal = ZERO
    min_notional_applies_to_market: bool = False
    max_notional: Decimal | None = None
    max_notional_applies_to_market: bool = False
    percent_price_filter: str = ""
    bid_multiplier_up: Decimal | None = None
    bid_multiplier_down: Decimal | None = None
    ask_multiplier_up: Decimal | None = None
    ask_multiplier_down: Decimal | None = None
    quote_commission_precision: int = 8
    order_types: tuple[str, ...] = ()

    # ---- rounding -------------------------------------------------------------------------

    def round_quantity(self, quantity: Decimal, order_type: OrderType = OrderType.LIMIT) -> Decimal:
        """`quantity` rounded DOWN to the lot step (and the market-lot step for MARKET orders)."""
        rounded = floor_to_step(quantity, self.step_size)
        if order_type is OrderType.MARKET and self.market_step_size:
            rounded = floor_to_step(rounded, self.market_step_size)
        return rounded

    def round_price(self, price: Decimal, side: Side) -> Decimal:
        """A limit price on the tick grid: BUY rounds down, SELL rounds up (see module doc)."""
        if side is Side.BUY:
            return floor_to_step(price, self.tick_size)
        return ceil_to_step(price, self.tick_size)

    # ---- checking -------------------------------------------------------------------------

    def validate(self, request: OrderRequest, reference_price: Decimal | None = None) -> None:
        """Raise `OrderRejected` with Binance's code and text if Binance would refuse `request`.

        `reference_price` stands in for Binance's average price (avgPriceMins): it prices MARKET
        orders for the notional filters and centres the percent-price band. Without it those
        two checks are skipped for orders that have no price of their own. Balances are the
        broker's business, not the symbol's.
        """
        if request.symbol != self.symbol:
            raise OrderRejected(BAD_SYMBOL, INVALID_SYMBOL)
        if self.status != "TRADING":
            raise OrderRejected(NEW_ORDER_REJECTED, MARKET_CLOSED)
        is_market = request.order_type is OrderType.MARKET
        if is_market and self.order_types and "MARKET" not in self.order_types:
            raise OrderRejected(NEW_ORDER_REJECTED, "Market orders are not supported for this symbol.")
        if is_market and request.price is not None:
            raise OrderRejected(PARAMETER_NOT_REQUIRED, PRICE_NOT_REQUIRED)
        if not is_market and request.price is None:
            raise OrderRejected(MANDATORY_PARAMETER, PRICE_REQUIRED)
        if request.price is not None:
            self._check_price(request.price)
            if reference_price is not None:
                self._check_percent_price(request.price, request.side, reference_price)
        self._check_lot(request.quantity, is_market)
        price = request.price if request.price is not None else reference_price
        if price is not None:
            self._check_notional(price * request.quantity, is_market)

    def _check_price(self, price: Decimal) -> None:
        too_low = price <= 0 or (self.min_price > 0 and price < self.min_price)
        too_high = self.max_price > 0 and price > self.max_price
        if too_low or too_high or not on_step(price, self.tick_size):
            raise OrderRejected(FILTER_FAILURE, filter_failure("PRICE_FILTER"))

    def _check_percent_price(self, price: Decimal, side: Side, reference_price: Decimal) -> None:
        if side is Side.BUY:
            up, down = self.bid_multiplier_up, self.bid_multiplier_down
        else:
            up, down = self.ask_multiplier_up, self.ask_multiplier_down
        if up is None or down is None:
            return
        if price > reference_price * up or price < reference_price * down:
            raise OrderRejected(FILTER_FAILURE, filter_failure(self.percent_price_filter))

    def _check_lot(self, quantity: Decimal, is_market: bool) -> None:
        bad = quantity <= 0 or quantity < self.min_qty or (self.max_qty > 0 and quantity > self.max_qty)
        if bad or not on_step(quantity, self.step_size):
            raise OrderRejected(FILTER_FAILURE, filter_failure("LOT_SIZE"))
        if not is_market or self.market_step_size is None:
            return
        too_low = self.market_min_qty is not None and quantity < self.market_min_qty
        too_high = bool(self.market_max_qty) and quantity > self.market_max_qty  # type: ignore[operator]
        if too_low or too_high or not on_step(quantity, self.market_step_size):
            raise OrderRejected(FILTER_FAILURE, filter_failure("MARKET_LOT_SIZE"))

    def _check_notional(self, notional: Decimal, is_market: bool) -> None:
        if not self.notional_filter:
            return
        applies_min = not is_market or self.min_notional_applies_to_market
        applies_max = not is_market or self.max_notional_applies_to_market
        too_small = applies_min and notional < self.min_notional
        too_large = applies_max and self.max_notional is not None and self.max_notional > 0 and notional > self.max_notional
        if too_small or too_large:
            raise OrderRejected(FILTER_FAILURE, filter_failure(self.notional_filter))


def validate_order(rules: dict[str, SymbolRules], request: OrderRequest, reference_price: Decimal | None = None) -> SymbolRules:
    """Check `request` against its symbol's rules; -1121 "Invalid symbol." for an unknown symbol.
    Returns the rules it checked against, which the caller usually needs next."""
    symbol_rules = rules.get(request.symbol)
    if symbol_rules is None:
        raise OrderRejected(BAD_SYMBOL, INVALID_SYMBOL)
    symbol_rules.validate(request, reference_price)
    return symbol_rules


# ---- Decimal grid helpers ----------------------------------------------------------------


def on_step(value: Decimal, step: Decimal) -> bool:
    """True if `value` is a whole number of `step`s (a zero step disables the rule)."""
    return not step or value % step == 0


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    if not step:
        return value
    return ((value / step).to_integral_value(rounding=ROUND_FLOOR) * step).quantize(_quantum(step))


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    if not step:
        return value
    return ((value / step).to_integral_value(rounding=ROUND_CEILING) * step).quantize(_quantum(step))


def _quantum(step: Decimal) -> Decimal:
    """The exponent results are written with: the step's own decimals ('0.01000000' -> 0.01),
    never a positive exponent, so a step of 10 still gives plain integers, not 6.2E+4."""
    exponent = step.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return Decimal((0, (1,), min(exponent, 0)))


# ---- parsing exchangeInfo ----------------------------------------------------------------


def without_filters(rules: SymbolRules) -> SymbolRules:
    """The symbol with every filter off: quantities and prices are taken as given (a backtest
    with `--no-exchange-filters`, so its results can be checked against tools that ignore them)."""
    return SymbolRules(symbol=rules.symbol, status=rules.status, base_asset=rules.base_asset, quote_asset=rules.quote_asset)


def rules_from_exchange_info(data: dict[str, Any]) -> dict[str, SymbolRules]:
    """Every symbol of a `GET /api/v3/exchangeInfo` body, keyed by symbol, in the body's order."""
    return {entry["symbol"]: rules_from_symbol(entry) for entry in data["symbols"]}


def rules_from_symbol(entry: dict[str, Any]) -> SymbolRules:
    """One element of exchangeInfo's `symbols`. Unknown filter types are ignored (Binance adds
    new ones from time to time; the ones that can refuse our orders are all read here)."""
    fields: dict[str, Any] = {
        "symbol": entry["symbol"],
        "status": entry["status"],
        "base_asset": entry["baseAsset"],
        "quote_asset": entry["quoteAsset"],
        "quote_commission_precision": int(entry.get("quoteCommissionPrecision", 8)),
        "order_types": tuple(entry.get("orderTypes", ())),
    }
    filters = {item["filterType"]: item for item in entry.get("filters", ())}
    if (price := filters.get("PRICE_FILTER")) is not None:
        fields |= {"tick_size": Decimal(price["tickSize"]), "min_price": Decimal(price["minPrice"]), "max_price": Decimal(price["maxPrice"])}
    if (lot := filters.get("LOT_SIZE")) is not None:
        fields |= {"step_size": Decimal(lot["stepSize"]), "min_qty": Decimal(lot["minQty"]), "max_qty": Decimal(lot["maxQty"])}
    if (market_lot := filters.get("MARKET_LOT_SIZE")) is not None:
        fields |= {
            "market_step_size": Decimal(market_lot["stepSize"]),
            "market_min_qty": Decimal(market_lot["minQty"]),
            "market_max_qty": Decimal(market_lot["maxQty"]),
        }
    # NOTIONAL replaced MIN_NOTIONAL in 2023; if a body carries both, the newer one governs.
    if (notional := filters.get("NOTIONAL")) is not None:
        fields |= {
            "notional_filter": "NOTIONAL",
            "min_notional": Decimal(notional.get("minNotional", "0")),
            "min_notional_applies_to_market": bool(notional.get("applyMinToMarket", False)),
            "max_notional": Decimal(notional["maxNotional"]) if "maxNotional" in notional else None,
            "max_notional_applies_to_market": bool(notional.get("applyMaxToMarket", False)),
        }
    elif (minimum := filters.get("MIN_NOTIONAL")) is not None:
        fields |= {
            "notional_filter": "MIN_NOTIONAL",
            "min_notional": Decimal(minimum["minNotional"]),
            "min_notional_applies_to_market": bool(minimum.get("applyToMarket", False)),
        }
    if (by_side := filters.get("PERCENT_PRICE_BY_SIDE")) is not None:
        fields |= {
            "percent_price_filter": "PERCENT_PRICE_BY_SIDE",
            "bid_multiplier_up": Decimal(by_side["bidMultiplierUp"]),
            "bid_multiplier_down": Decimal(by_side["bidMultiplierDown"]),
            "ask_multiplier_up": Decimal(by_side["askMultiplierUp"]),
            "ask_multiplier_down": Decimal(by_side["askMultiplierDown"]),
        }
    elif (percent := filters.get("PERCENT_PRICE")) is not None:
        up, down = Decimal(percent["multiplierUp"]), Decimal(percent["multiplierDown"])
        fields |= {"percent_price_filter": "PERCENT_PRICE", "bid_multiplier_up": up, "bid_multiplier_down": down, "ask_multiplier_up": up, "ask_multiplier_down": down}
    return SymbolRules(**fields)
