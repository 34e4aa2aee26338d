"""What risk answers: a decision on a signal, or an exit it wants on its own, plus the small
policy protocol it reads from the guards.

Reason codes are machine-readable (`RiskReason`) for metrics and alerts; `text` says the same
for a human with the numbers that decided it.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Protocol

import msgspec

from bot.domain.order_ids import client_order_id
from bot.domain.trading import OrderRequest, OrderType, Side


class PolicyAction(StrEnum):
    """What the guard policy allows for a symbol. Any StrEnum with these values (the guards'
    own) is read the same way, since risk compares values, not types."""

    ALLOW = "ALLOW"
    MONITOR = "MONITOR"
    CAUTION = "CAUTION"
    AVOID = "AVOID"


class PolicyLike(Protocol):
    """The two things risk needs from the guards' policy outcome."""

    @property
    def action(self) -> str: ...

    @property
    def size_multiplier(self) -> Decimal: ...


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    """A plain policy outcome, for running without guards (ALLOW, full size) and for tests."""

    action: PolicyAction = PolicyAction.ALLOW
    size_multiplier: Decimal = Decimal(1)


ALLOW_ALL = Policy()


class RiskReason(StrEnum):
    APPROVED = "approved"
    HOLD = "hold"
    HALTED = "halted"
    REDUCING_ONLY_EXITS = "reducing_only_exits"
    GUARD_AVOID = "guard_avoid"
    GUARD_SIZE_ZERO = "guard_size_zero"
    COOLDOWN = "cooldown"
    UNSUPPORTED_SYMBOL = "unsupported_symbol"
    MAX_OPEN_POSITIONS = "max_open_positions"
    MAX_POSITION_VALUE = "max_position_value"
    MAX_TOTAL_EXPOSURE = "max_total_exposure"
    INSUFFICIENT_CASH = "insufficient_cash"
    BELOW_MIN_ORDER_VALUE = "below_min_order_value"
    NO_POSITION = "no_position"


class ExitReason(StrEnum):
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    GUARD = "guard"  # the guard policy closes the position of a CRITICAL market


RISK_STRATEGY = "risk"  # the strategy name risk's own exits carry in order ids and the ledger


class RiskDecision(msgspec.Struct, frozen=True, kw_only=True):
    """Risk's answer to one signal. `quantity` is not yet rounded to the exchange's step size:
    the broker applies the symbol's filters. `capped_by` names the limits that shrank an
    approved entry (in the order they were checked)."""

    approved: bool
    symbol: str
    side: Side | None
    quantity: Decimal
    reason: RiskReason
    text: str
    price: Decimal
    ts: int
    strategy: str
    trigger: str
    reduce_only: bool = False
    capped_by: tuple[RiskReason, ...] = ()
    stop_price: Decimal | None = None
    take_profit_price: Decimal | None = None
    # Set for an all-cash entry: spend this quote amount, fee included (see OrderRequest).
    quote_order_quantity: Decimal | None = None

    def to_order_request(self, order_type: OrderType = OrderType.MARKET) -> OrderRequest:
        """The order this approval asks for, with its deterministic client order id."""
        if not self.approved or self.side is None:
            raise ValueError(f"decision on {self.symbol} was not approved ({self.reason}): no order")
        return OrderRequest(
            client_order_id=client_order_id(self.strategy, self.symbol, self.side, self.trigger),
            symbol=self.symbol,
            side=self.side,
            order_type=order_type,
            quantity=self.quantity,
            price=self.price if order_type is OrderType.LIMIT else None,
            ts=self.ts,
            strategy=self.strategy,
            reduce_only=self.reduce_only,
            quote_order_quantity=self.quote_order_quantity if order_type is OrderType.MARKET else None,
        )


class ExitIntent(msgspec.Struct, frozen=True, kw_only=True):
    """Risk's own wish to close a position. `trigger` is `<reason>:<ts_opened>`, the same for
    every check of one position, so repeating the intent on each price asks for the same client
    order id and cannot send a second order."""

    symbol: str
    side: Side
    quantity: Decimal
    reason: ExitReason
    text: str
    price: Decimal
    trigger_price: Decimal
    ts: int
    trigger: str

    def to_order_request(self) -> OrderRequest:
        return OrderRequest(
            client_order_id=client_order_id(RISK_STRATEGY, self.symbol, self.side, self.trigger),
            symbol=self.symbol,
            side=self.side,
            order_type=OrderType.MARKET,
            quantity=self.quantity,
            ts=self.ts,
            strategy=RISK_STRATEGY,
            reduce_only=True,
        )
