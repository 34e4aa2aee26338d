"""The trading vocabulary shared by strategies, guards, risk, brokers and the engine.

Money (prices, quantities, balances, fees) is `Decimal`; time is integer nanoseconds since the
Unix epoch. Signal strengths are floats: they are opinions, not money.

These types are plain frozen msgspec structs so they encode to JSON for Redis exactly and cheaply,
and so a recorded decision can be read back into the same type.
"""

from __future__ import annotations

from decimal import Decimal
from enum import IntEnum, StrEnum

import msgspec


class SignalAction(StrEnum):
    """What a strategy thinks should happen. Strategies emit these; they never place orders."""

    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


class Signal(msgspec.Struct, frozen=True, kw_only=True):
    """A strategy's intent for one symbol at one moment.

    `trigger` names the market event that caused it (e.g. `kline_1m:1723161240000000000`, a
    bar's open time in ns, or
    `trade:3735683259`); together with strategy and symbol it makes order ids deterministic.
    `stop_price` / `take_profit_price` are optional exits the strategy suggests (e.g. an ATR
    stop); risk may apply its own instead.
    """

    strategy: str
    symbol: str
    action: SignalAction
    strength: float
    ts_event: int
    trigger: str
    reason: str = ""
    stop_price: Decimal | None = None
    take_profit_price: Decimal | None = None


class GuardLevel(IntEnum):
    """How alarming a guard finds a market. Ordered, so the worst of several is `max()`."""

    NORMAL = 0
    LOW = 1
    MODERATE = 2
    HIGH = 3
    CRITICAL = 4


class GuardVerdict(msgspec.Struct, frozen=True, kw_only=True):
    """One guard's judgement of one symbol at `ts`. `reasons` are machine-readable codes with
    their numbers, e.g. `"move_5m_pct=4.21>3"`, so a denial can be explained in logs and alerts."""

    guard: str
    symbol: str
    level: GuardLevel
    reasons: tuple[str, ...] = ()
    ts: int = 0


class Recommendation(StrEnum):
    """What the guard policy advises for a symbol, stored per symbol for users and the scanner."""

    BUY_RECOMMENDED = "BUY_RECOMMENDED"
    SELL_RECOMMENDED = "SELL_RECOMMENDED"
    CAUTION = "CAUTION"
    AVOID = "AVOID"
    MONITOR = "MONITOR"


class TradingState(StrEnum):
    """The account-wide switch. REDUCING allows only orders that shrink positions; HALTED allows
    nothing (the kill switch: set by the daily loss limit or by command)."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class OrderStatus(StrEnum):
    """Binance's order statuses (the subset a spot bot meets)."""

    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


class Liquidity(StrEnum):
    MAKER = "MAKER"
    TAKER = "TAKER"


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """An order as risk approved it, before the broker has seen it.

    `client_order_id` is deterministic (see `bot.domain.order_ids`), at most 36 characters, so
    sending the same request twice (a retry, a restart) can never make two orders.
    """

    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None = None
    ts: int = 0
    strategy: str = ""
    reduce_only: bool = False
    # A MARKET BUY that spends this much of the quote asset, fee included, instead of buying a
    # set quantity (Binance's quoteOrderQty): the quantity follows from the fill price, so an
    # order decided on one bar and filled at the next bar's open still spends exactly the cash.
    # `quantity` is then the estimate at the decision's price; the fill says what was bought.
    quote_order_quantity: Decimal | None = None


class Order(msgspec.Struct, frozen=True, kw_only=True):
    """The broker's view of an order; a new instance for every change of state."""

    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    quantity: Decimal
    price: Decimal | None
    status: OrderStatus
    filled_quantity: Decimal = Decimal(0)
    quote_quantity: Decimal = Decimal(0)
    ts_created: int = 0
    ts_updated: int = 0
    strategy: str = ""
    reject_reason: str = ""

    @classmethod
    def from_request(cls, request: OrderRequest, status: OrderStatus, ts: int, reject_reason: str = "") -> Order:
        """The order a request becomes when the broker first answers it."""
        return cls(
            client_order_id=request.client_order_id, symbol=request.symbol, side=request.side,
            order_type=request.order_type, quantity=request.quantity, price=request.price, status=status,
            ts_created=ts, ts_updated=ts, strategy=request.strategy, reject_reason=reject_reason,
        )


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    """One execution of (part of) an order. `fill_id` is unique and deterministic
    (`<client_order_id>-<n>`). Fees are charged in `fee_asset` (the quote asset by default)."""

    fill_id: str
    client_order_id: str
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: Liquidity
    ts: int


class Position(msgspec.Struct, frozen=True, kw_only=True):
    """A long-only spot position. `average_price` includes no fees; fees are kept apart so PnL can
    be shown before and after them."""

    symbol: str
    quantity: Decimal
    average_price: Decimal
    realized_pnl: Decimal = Decimal(0)
    fees_paid: Decimal = Decimal(0)
    ts_opened: int = 0
    ts_updated: int = 0
    stop_price: Decimal | None = None
    take_profit_price: Decimal | None = None
