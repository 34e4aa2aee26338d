"""The one interface every broker implements: paper today, live (python-binance) later.

The contract (tests/contract/ holds it as tests; every broker must pass them):

- `submit` either accepts the order and returns its report (the order as it now stands and the
  fills this call caused), or raises `OrderRejected` with Binance's own code and text. A refused
  order leaves no trace: no order is stored, no funds move.
- Idempotency: submitting a `client_order_id` the broker already knows returns that order's
  current state with NO fills and never places a second order, whether the first is still open
  or already filled, cancelled or expired. Binance itself refuses a duplicate only while the
  first is open (-2010 "Duplicate order sent.") and would accept the id again once it is closed;
  a retry after a crash must never double an order, so the live broker turns that refusal, and
  any known id, into a lookup (GET /api/v3/order?origClientOrderId=...) instead of an error.
  The request's other fields are not compared: the id is derived from the trigger, so the same
  id means the same decision.
- MARKET orders fill at once (possibly partly: the unfilled rest is EXPIRED, as on Binance when
  the book runs out). A marketable LIMIT takes liquidity at once as TAKER at the book's prices
  (never beyond its limit); whatever is left rests and later fills as MAKER at its limit.
- `cancel` of an unknown or already closed order raises -2011 "Unknown order sent.".
- `balances` are the FREE balances (what a new order may use); funds held by resting orders are
  not in them. Fees are charged in the quote asset.
- `observe_market` is how a paper broker sees the market: it matches resting orders against
  trades and returns the resulting reports. A live broker returns [] there and hands over what
  the user-data stream told it through `poll_reports`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

import msgspec

from bot.domain.events import MarketEvent
from bot.domain.rejections import OrderRejected
from bot.domain.trading import Fill, Order, OrderRequest, OrderStatus


class ExecutionReport(msgspec.Struct, frozen=True, kw_only=True):
    """An order's state after a change, and the fills that change brought (often none)."""

    order: Order
    fills: tuple[Fill, ...] = ()


class Broker(Protocol):
    async def submit(self, request: OrderRequest) -> ExecutionReport:
        """Place `request`; raises `OrderRejected` if the exchange refuses it."""
        ...

    async def cancel(self, symbol: str, client_order_id: str) -> ExecutionReport:
        """Cancel an open order; raises `OrderRejected` (-2011) if there is none."""
        ...

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Open orders (NEW or PARTIALLY_FILLED), oldest first, of one symbol or all."""
        ...

    async def balances(self) -> dict[str, Decimal]:
        """Free balance per asset, sorted by asset."""
        ...

    def observe_market(self, event: MarketEvent) -> list[ExecutionReport]:
        """Let the broker see a market event; returns reports of fills it caused (paper only)."""
        ...

    async def poll_reports(self) -> list[ExecutionReport]:
        """Reports that arrived on their own since the last call (live: the user-data stream)."""
        ...


def rejected_report(request: OrderRequest, error: OrderRejected, ts: int) -> ExecutionReport:
    """A REJECTED order for the ledger and alerts, built from a refusal (the broker stores none)."""
    order = Order.from_request(request, OrderStatus.REJECTED, ts, reject_reason=f"{error.code} {error.message}")
    return ExecutionReport(order=order)
