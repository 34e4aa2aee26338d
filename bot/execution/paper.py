"""The paper broker: Binance's spot matching rules played against real market data, no exchange.

How it fills (the contract in bot.execution.broker says what every broker must do; this is how
the paper broker does it):
- MARKET orders walk the opposite side of the book (`MarketView.book_levels`), one fill per
  level, so the order's average price is the VWAP of the levels consumed. If the book runs out,
  what filled stays filled and the rest EXPIRES (Binance does the same). Without a depth book
  the whole quantity fills at the best bid/ask moved `slippage_bps` against the order.
- LIMIT orders that cross the book take liquidity at once as TAKER at the book's prices, never
  beyond the limit (without a depth book: the best bid/ask and its quantity); the rest rests.
- A resting limit fills as MAKER, at its own price, when a trade prints STRICTLY THROUGH it
  (below a BUY's price, above a SELL's). A print AT the price is not enough: orders queued at
  that price before ours would be filled first, and we cannot see the queue. Each print fills
  at most its own quantity, shared among our resting orders in the order they were accepted.
  Only trades (Trade or AggTrade events: feed one of the two, not both) move resting orders.

Money: fees are the exact Decimal product notional * rate in the quote asset (Binance rounds its
commission to quoteCommissionPrecision, 8 decimals; the paper broker keeps the exact figure, at
most 1e-8 per fill apart, so held and released funds are conserved to the last digit). A resting
BUY holds quantity * price * (1 + highest fee rate) of the quote asset, a resting SELL holds its
base quantity; held funds are not in `balances()` until released by a fill or a cancel.

When a MARKET order fills is the `FillModel`: `book` (above, the default: as live trading would),
`close` (at once, at the last price: the last trade, or the close of the last kline) or
`next-open` (at the first price after the decision: the open of the next kline, or the next
trade). Backtests over klines use `next-open`, so a signal decided on a bar's close trades at the
next bar's open; see the README's fill convention. A `next-open` order waits as NEW, holding
nothing, and is checked against the balance when it fills (short of funds, it EXPIRES).
A MARKET BUY for a quote amount (`quote_order_quantity`, Binance's quoteOrderQty) spends that
amount with its fee: quantity = amount / (price x (1 + taker fee)), rounded down to the lot step.

Deterministic: fill ids are `<client_order_id>-<n>`, times come from the injected clock, and the
whole state round-trips through `snapshot()` / `restore()` as msgspec JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

import msgspec

from bot.clock import Clock
from bot.domain.events import AggTrade, Kline, MarketEvent, PriceLevel, Trade
from bot.domain.rejections import (
    CANCEL_REJECTED,
    FILTER_FAILURE,
    INSUFFICIENT_BALANCE,
    NEW_ORDER_REJECTED,
    NO_DEPTH,
    NO_ORDERS_ON_BOOK,
    UNKNOWN_ORDER,
    OrderRejected,
    filter_failure,
)
from bot.domain.symbols import SymbolRules, validate_order
from bot.domain.trading import (
    Fill,
    Liquidity,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)
from bot.execution.broker import ExecutionReport
from bot.execution.fees import FeeSettings
from bot.execution.market_view import MarketView
from bot.execution.matching import notional, slipped_price, walk_book

ZERO = Decimal(0)
STATE_FORMAT = 3  # 2: fill counts of open orders instead of every fill ever made; 3: pending orders
_READABLE_FORMATS = (2, 3)
_QUOTE_ORDER_QUANTUM = Decimal("1e-12")


class FillModel(StrEnum):
    """When and at what price a MARKET order fills (see the module docstring)."""

    BOOK = "book"
    CLOSE = "close"
    NEXT_OPEN = "next-open"


class PaperState(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the paper broker knows, for the ledger to persist. `holds` maps each open
    order to the funds it still holds (quote asset for a BUY, base asset for a SELL)."""

    format: int = STATE_FORMAT
    free: dict[str, Decimal]
    locked: dict[str, Decimal]
    holds: dict[str, Decimal]
    orders: list[Order]
    # Fills so far of each open order: the next fill's id continues from it. Closed orders never
    # fill again, and the fills themselves are the ledger's, so the state does not grow with them.
    fill_counts: dict[str, int]
    # `next-open` MARKET orders waiting for the next price, in the order they were accepted.
    pending: list[OrderRequest] = []


class PaperBroker:
    """A `Broker` that fills against a `MarketView` instead of an exchange.

    `self._holds` doubles as the index of open orders (every open order holds funds, in the
    order they were accepted), so matching a trade never scans closed orders.
    """

    def __init__(
        self,
        rules: Mapping[str, SymbolRules],
        market: MarketView,
        balances: Mapping[str, Decimal],
        fees: FeeSettings,
        slippage_bps: Decimal,
        clock: Clock,
        *,
        book_depth: int = 1000,
        fill_model: FillModel = FillModel.BOOK,
    ) -> None:
        if slippage_bps < 0:
            raise ValueError(f"slippage_bps must be >= 0, got {slippage_bps}")
        self._rules = dict(rules)
        self._market = market
        self._fees = fees
        self._slippage_bps = slippage_bps
        self._clock = clock
        self._book_depth = book_depth
        self._fill_model = fill_model
        self._pending: dict[str, OrderRequest] = {}
        self._free: dict[str, Decimal] = dict(balances)
        self._locked: dict[str, Decimal] = {}
        self._holds: dict[str, Decimal] = {}
        self._orders: dict[str, Order] = {}
        self._fill_counts: dict[str, int] = {}

    # ---- the Broker protocol --------------------------------------------------------------

    async def submit(self, request: OrderRequest) -> ExecutionReport:
        return self.submit_now(request)

    async def cancel(self, symbol: str, client_order_id: str) -> ExecutionReport:
        return self.cancel_now(symbol, client_order_id)

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        open_ids = [*self._holds, *self._pending]
        orders = (self._orders[client_order_id] for client_order_id in open_ids)
        return [order for order in orders if symbol in (None, order.symbol)]

    async def balances(self) -> dict[str, Decimal]:
        return dict(sorted(self._free.items()))

    async def poll_reports(self) -> list[ExecutionReport]:
        return []  # every paper fill is reported where it happens: submit or observe_market

    def observe_market(self, event: MarketEvent) -> list[ExecutionReport]:
        reports = self._fill_pending(event) if self._pending else []
        if not isinstance(event, (Trade, AggTrade)):
            return reports
        available = event.quantity
        for client_order_id in list(self._holds):  # the open orders, in the order they were accepted
            if available <= 0:
                break
            order = self._orders[client_order_id]
            if order.symbol != event.symbol or order.price is None:
                continue
            through = event.price < order.price if order.side is Side.BUY else event.price > order.price
            if not through:
                continue
            quantity = min(order.quantity - order.filled_quantity, available)
            available -= quantity
            fill = self._execute(order.client_order_id, order.price, quantity, Liquidity.MAKER)
            reports.append(ExecutionReport(order=self._orders[order.client_order_id], fills=(fill,)))
        return reports

    # ---- synchronous core (the engine's replay loop may call these directly) ---------------

    def submit_now(self, request: OrderRequest) -> ExecutionReport:
        existing = self._orders.get(request.client_order_id)
        if existing is not None:
            return ExecutionReport(order=existing)
        rules = validate_order(self._rules, request, self._reference_price(request.symbol))
        if request.order_type is OrderType.MARKET:
            return self._submit_market(request, rules)
        return self._submit_limit(request, rules)

    def cancel_now(self, symbol: str, client_order_id: str) -> ExecutionReport:
        order = self._orders.get(client_order_id)
        if order is None or order.symbol != symbol or not order.status.is_open:
            raise OrderRejected(CANCEL_REJECTED, UNKNOWN_ORDER)
        if self._pending.pop(client_order_id, None) is None:
            self._release(order, self._holds.pop(client_order_id))
        self._orders[client_order_id] = msgspec.structs.replace(order, status=OrderStatus.CANCELED, ts_updated=self._clock.now_ns())
        return ExecutionReport(order=self._orders[client_order_id])

    def locked_balances(self) -> dict[str, Decimal]:
        """Funds held by open orders, per asset (not part of the Broker protocol)."""
        return dict(sorted(self._locked.items()))

    # ---- persistence ----------------------------------------------------------------------

    def snapshot(self) -> bytes:
        self._fill_counts = {order_id: count for order_id, count in self._fill_counts.items() if order_id in self._holds}
        state = PaperState(
            free=dict(sorted(self._free.items())),
            locked=dict(sorted(self._locked.items())),
            holds=dict(sorted(self._holds.items())),
            orders=list(self._orders.values()),
            fill_counts=dict(sorted(self._fill_counts.items())),
            pending=list(self._pending.values()),
        )
        return msgspec.json.encode(state)

    def restore(self, data: bytes) -> None:
        """Replace the whole state with a snapshot's (a restart resumes exactly where it stopped)."""
        state = msgspec.json.decode(data, type=PaperState)
        if state.format not in _READABLE_FORMATS:
            raise ValueError(f"paper broker state format {state.format} is not one of {_READABLE_FORMATS}")
        open_ids = {order.client_order_id for order in state.orders if order.status.is_open}
        pending_ids = {request.client_order_id for request in state.pending}
        if open_ids != set(state.holds) | pending_ids:
            raise ValueError("paper broker state is inconsistent: holds do not match the open orders")
        self._free = dict(state.free)
        self._locked = dict(state.locked)
        # Holds keep the acceptance order of their orders: resting orders share a print in that order.
        self._holds = {order.client_order_id: state.holds[order.client_order_id] for order in state.orders if order.client_order_id in state.holds}
        self._orders = {order.client_order_id: order for order in state.orders}
        self._fill_counts = dict(state.fill_counts)
        self._pending = {request.client_order_id: request for request in state.pending}

    # ---- submitting -----------------------------------------------------------------------

    def _submit_market(self, request: OrderRequest, rules: SymbolRules) -> ExecutionReport:
        side = request.side
        if self._fill_model is FillModel.NEXT_OPEN:
            return self._accept_pending(request)
        if self._fill_model is FillModel.CLOSE:
            last = self._market.last_trade_price(request.symbol)
            if last is None:
                raise OrderRejected(NO_DEPTH, NO_ORDERS_ON_BOOK)
            price = self._print_price(last, side)
            request = self._sized_at(request, rules, price)
            slices = [(price, request.quantity)]
        else:
            levels = self._market.book_levels(request.symbol, _opposite(side), self._book_depth)
            if levels:
                request = self._sized_at(request, rules, levels[0][0])
                slices = walk_book(levels, side, request.quantity)
            else:
                quote = self._top_of_book(request.symbol, _opposite(side))
                price = None if quote is None else slipped_price(quote[0], side, self._slippage_bps, rules.tick_size)
                if price is not None:
                    request = self._sized_at(request, rules, price)
                slices = [] if price is None else [(price, request.quantity)]
        if not slices:
            raise OrderRejected(NO_DEPTH, NO_ORDERS_ON_BOOK)
        if side is Side.BUY:
            cost = notional(slices)
            self._require(rules.quote_asset, cost + cost * self._fees.rate(Liquidity.TAKER))
        else:
            self._require(rules.base_asset, request.quantity)
        return self._accept(request, rules, slices, hold=ZERO)

    def _submit_limit(self, request: OrderRequest, rules: SymbolRules) -> ExecutionReport:
        assert request.price is not None  # validate_order refuses a LIMIT without a price
        side = request.side
        if side is Side.BUY:
            hold = self._buy_hold(request.quantity, request.price)
            self._require(rules.quote_asset, hold)
        else:
            hold = request.quantity
            self._require(rules.base_asset, hold)
        levels = self._market.book_levels(request.symbol, _opposite(side), self._book_depth)
        if not levels:
            quote = self._top_of_book(request.symbol, _opposite(side))
            levels = [] if quote is None else [quote]
        slices = walk_book(levels, side, request.quantity, limit_price=request.price)
        return self._accept(request, rules, slices, hold=hold)

    def _accept_pending(self, request: OrderRequest) -> ExecutionReport:
        """A `next-open` MARKET order: accepted now, filled by `_fill_pending` at the next price."""
        order = Order.from_request(request, OrderStatus.NEW, self._clock.now_ns())
        self._orders[order.client_order_id] = order
        self._pending[order.client_order_id] = request
        return ExecutionReport(order=order)

    def _fill_pending(self, event: MarketEvent) -> list[ExecutionReport]:
        """Fills the waiting `next-open` orders of the event's symbol at its first price: a
        kline that opened at or after the decision gives its open, a trade its price."""
        if isinstance(event, Kline):
            price, ts = event.open, event.open_time
        elif isinstance(event, (Trade, AggTrade)):
            price, ts = event.price, event.ts_event
        else:
            return []
        reports = []
        for client_order_id, request in list(self._pending.items()):
            order = self._orders[client_order_id]
            if request.symbol != event.symbol or (isinstance(event, Kline) and ts < order.ts_created):
                continue
            del self._pending[client_order_id]
            reports.append(self._fill_at_next_price(request, order, price, max(ts, order.ts_created)))
        return reports

    def _fill_at_next_price(self, request: OrderRequest, order: Order, print_price: Decimal, ts: int) -> ExecutionReport:
        rules = self._rules[request.symbol]
        price = self._print_price(print_price, request.side)
        try:
            request = self._sized_at(request, rules, price)
            rules.validate(request, price)
            if request.side is Side.BUY:
                cost = price * request.quantity
                self._require(rules.quote_asset, cost + cost * self._fees.rate(Liquidity.TAKER))
            else:
                self._require(rules.base_asset, request.quantity)
        except OrderRejected as refusal:
            # Binance would have refused it when sent; here it was accepted a bar early, so it
            # expires with the refusal's text instead of filling.
            expired = msgspec.structs.replace(order, status=OrderStatus.EXPIRED, ts_updated=ts, reject_reason=refusal.message)
            self._orders[order.client_order_id] = expired
            return ExecutionReport(order=expired)
        self._orders[order.client_order_id] = msgspec.structs.replace(order, quantity=request.quantity)
        fill = self._execute(order.client_order_id, price, request.quantity, Liquidity.TAKER, ts=ts)
        return ExecutionReport(order=self._orders[order.client_order_id], fills=(fill,))

    def _print_price(self, price: Decimal, side: Side) -> Decimal:
        """A printed price (last trade, kline open or close) moved against the order by the
        slippage; no tick rounding: the price printed, it is on the exchange's grid already."""
        if not self._slippage_bps:
            return price
        return slipped_price(price, side, self._slippage_bps, ZERO)

    def _sized_at(self, request: OrderRequest, rules: SymbolRules, price: Decimal) -> OrderRequest:
        """A quote-amount BUY turned into its quantity at `price`: what the amount buys with its
        taker fee, rounded down to the lot step; any other request unchanged."""
        amount = request.quote_order_quantity
        if amount is None or request.side is not Side.BUY:
            return request
        quantity = amount / (price * (1 + self._fees.rate(Liquidity.TAKER)))
        # Down to 1e-12 of a unit first (a lot step, if any, is coarser): price x quantity and
        # its fee are then exact in 28 digits, so the charge never outgrows the amount by a
        # rounding of the last digit.
        quantity = rules.round_quantity(quantity.quantize(_QUOTE_ORDER_QUANTUM, rounding=ROUND_DOWN), OrderType.MARKET)
        if quantity <= 0:
            raise OrderRejected(FILTER_FAILURE, filter_failure("LOT_SIZE"))
        return msgspec.structs.replace(request, quantity=quantity)

    def _accept(self, request: OrderRequest, rules: SymbolRules, slices: list[PriceLevel], hold: Decimal) -> ExecutionReport:
        now = self._clock.now_ns()
        order = Order.from_request(request, OrderStatus.NEW, now)
        self._orders[order.client_order_id] = order
        if hold:
            held_asset = rules.quote_asset if request.side is Side.BUY else rules.base_asset
            self._free[held_asset] = self._free.get(held_asset, ZERO) - hold
            self._locked[held_asset] = self._locked.get(held_asset, ZERO) + hold
            self._holds[order.client_order_id] = hold
        fills = tuple(self._execute(order.client_order_id, price, quantity, Liquidity.TAKER) for price, quantity in slices)
        order = self._orders[order.client_order_id]
        if request.order_type is OrderType.MARKET and order.status.is_open:
            # The book ran out: Binance expires the unfilled rest of a market order.
            order = msgspec.structs.replace(order, status=OrderStatus.EXPIRED)
            self._orders[order.client_order_id] = order
        return ExecutionReport(order=order, fills=fills)

    # ---- filling --------------------------------------------------------------------------

    def _execute(self, client_order_id: str, price: Decimal, quantity: Decimal, liquidity: Liquidity, ts: int | None = None) -> Fill:
        """Book one fill: release what the order held for it, charge what it cost, credit what
        it bought, and advance the order."""
        order = self._orders[client_order_id]
        rules = self._rules[order.symbol]
        value = price * quantity
        fee = value * self._fees.rate(liquidity)
        remaining = order.quantity - order.filled_quantity - quantity
        if client_order_id in self._holds:
            still_held = self._buy_hold(remaining, order.price) if order.side is Side.BUY else remaining  # type: ignore[arg-type]
            self._release(order, self._holds[client_order_id] - still_held)
            if remaining:
                self._holds[client_order_id] = still_held
            else:
                del self._holds[client_order_id]
        if order.side is Side.BUY:
            self._add(rules.quote_asset, -(value + fee))
            self._add(rules.base_asset, quantity)
        else:
            self._add(rules.base_asset, -quantity)
            self._add(rules.quote_asset, value - fee)
        count = self._fill_counts.get(client_order_id, 0) + 1
        self._fill_counts[client_order_id] = count
        now = self._clock.now_ns() if ts is None else ts
        fill = Fill(
            fill_id=f"{client_order_id}-{count}",
            client_order_id=client_order_id,
            symbol=order.symbol,
            side=order.side,
            price=price,
            quantity=quantity,
            fee=fee,
            fee_asset=rules.quote_asset,
            liquidity=liquidity,
            ts=now,
        )
        self._orders[client_order_id] = msgspec.structs.replace(
            order,
            status=OrderStatus.FILLED if remaining == 0 else OrderStatus.PARTIALLY_FILLED,
            filled_quantity=order.filled_quantity + quantity,
            quote_quantity=order.quote_quantity + value,
            ts_updated=now,
        )
        return fill

    # ---- balances -------------------------------------------------------------------------

    def _buy_hold(self, quantity: Decimal, price: Decimal) -> Decimal:
        return quantity * price * (1 + self._fees.highest_rate)

    def _require(self, asset: str, amount: Decimal) -> None:
        if self._free.get(asset, ZERO) < amount:
            raise OrderRejected(NEW_ORDER_REJECTED, INSUFFICIENT_BALANCE)

    def _release(self, order: Order, amount: Decimal) -> None:
        rules = self._rules[order.symbol]
        asset = rules.quote_asset if order.side is Side.BUY else rules.base_asset
        left = self._locked[asset] - amount
        if left:
            self._locked[asset] = left
        else:
            del self._locked[asset]  # nothing held: no key, rather than a zero with 13 decimals
        self._add(asset, amount)

    def _add(self, asset: str, amount: Decimal) -> None:
        self._free[asset] = self._free.get(asset, ZERO) + amount

    # ---- market -----------------------------------------------------------------------------

    def _top_of_book(self, symbol: str, book_side: Side) -> PriceLevel | None:
        return self._market.best_bid(symbol) if book_side is Side.BUY else self._market.best_ask(symbol)

    def _reference_price(self, symbol: str) -> Decimal | None:
        """Stands in for Binance's average price in the notional and percent-price filters: the
        last trade, else the mid of the best bid and ask."""
        last = self._market.last_trade_price(symbol)
        if last is not None:
            return last
        bid, ask = self._market.best_bid(symbol), self._market.best_ask(symbol)
        if bid is None or ask is None:
            return None
        return (bid[0] + ask[0]) / 2


def _opposite(side: Side) -> Side:
    """The side of the book an order of `side` takes from: a BUY takes the asks (resting SELLs)."""
    return Side.SELL if side is Side.BUY else Side.BUY
