"""Spot, long-only portfolio accounting from fills.

Average-cost accounting. Each open position keeps its exact cost basis (quantity x price of the
units still held, fees excluded); the average price shown on `Position` is that basis divided by
the quantity. A sell removes the sold share of the basis and realizes `proceeds - removed cost`,
so over any round trip that ends flat the realized PnL is exactly proceeds minus cost: the only
rounding (a partial sell's share of the basis) cancels out when the position closes.

Fees are kept apart from PnL, as `Position` documents: `realized_pnl` is before fees, the fees
are counted in `fees_paid` and in the day's `DailyPnl.fees`; `DailyPnl.net` is both together.
Fees must be charged in the quote asset, or (Binance's default on a buy) in the base asset, where
they shrink the quantity received and are valued at the fill's price.

Valuation needs marks (latest prices). A position whose symbol has no mark is valued at its
average price, i.e. at cost, so a missing price never invents a profit or a loss.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from decimal import Decimal

import msgspec

from bot.domain.trading import Fill, Position, Side
from bot.risk.money import ZERO, add, divide, multiply, subtract, total, utc_day

# Fills the portfolio remembers so a fill delivered twice (a retry, a replay after a restart)
# is applied once. The ledger is the durable record; this is a cheap second line of defence.
RECENT_FILL_MEMORY = 2048
SNAPSHOT_VERSION = 1


class PortfolioError(ValueError):
    """A fill or an operation the books cannot take: the portfolio is left unchanged."""


class DailyPnl(msgspec.Struct, frozen=True, kw_only=True):
    """Realized results of one UTC day: PnL before fees and the fees paid that day (quote)."""

    day: str
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return subtract(self.realized_pnl, self.fees)


class PortfolioSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything `Portfolio.restore` needs; lists and keys are sorted so equal books encode to
    identical bytes."""

    version: int
    quote_asset: str
    cash: dict[str, Decimal]
    positions: list[Position]
    cost_basis: dict[str, Decimal]
    daily: list[DailyPnl]
    realized_pnl: Decimal
    fees_paid: Decimal
    recent_fill_ids: list[str]


class Portfolio:
    def __init__(self, quote_asset: str = "USDT", cash: Mapping[str, Decimal] | None = None) -> None:
        self._quote_asset = quote_asset
        self._cash: dict[str, Decimal] = {}
        for asset, amount in (cash or {}).items():
            if not isinstance(amount, Decimal) or amount < 0:
                raise PortfolioError(f"cash[{asset}] must be a non-negative Decimal, got {amount!r}")
            self._cash[asset] = amount
        self._positions: dict[str, Position] = {}
        self._cost_basis: dict[str, Decimal] = {}
        self._daily: dict[str, DailyPnl] = {}
        self._realized_pnl = ZERO
        self._fees_paid = ZERO
        self._recent_fill_ids: deque[str] = deque(maxlen=RECENT_FILL_MEMORY)
        self._recent_fill_set: set[str] = set()

    # ----- reading the books -------------------------------------------------------------

    @property
    def quote_asset(self) -> str:
        return self._quote_asset

    def base_asset(self, symbol: str) -> str:
        """`BTCUSDT` -> `BTC`. Only symbols quoted in the portfolio's quote asset are tradable."""
        if not symbol.endswith(self._quote_asset) or len(symbol) == len(self._quote_asset):
            raise PortfolioError(f"symbol {symbol} is not quoted in {self._quote_asset}")
        return symbol[: -len(self._quote_asset)]

    def cash(self, asset: str | None = None) -> Decimal:
        return self._cash.get(asset or self._quote_asset, ZERO)

    @property
    def cash_balances(self) -> dict[str, Decimal]:
        return dict(sorted(self._cash.items()))

    @property
    def positions(self) -> dict[str, Position]:
        """Open positions by symbol, in symbol order."""
        return dict(sorted(self._positions.items()))

    def position(self, symbol: str) -> Position | None:
        return self._positions.get(symbol)

    def cost_basis(self, symbol: str) -> Decimal:
        return self._cost_basis.get(symbol, ZERO)

    @property
    def open_position_count(self) -> int:
        return len(self._positions)

    @property
    def realized_pnl(self) -> Decimal:
        """All realized PnL since the books began, before fees."""
        return self._realized_pnl

    @property
    def fees_paid(self) -> Decimal:
        return self._fees_paid

    def daily_pnl(self, ts_ns: int) -> DailyPnl:
        """The realized results of the UTC day that contains `ts_ns`."""
        day = utc_day(ts_ns)
        return self._daily.get(day, DailyPnl(day=day))

    @property
    def daily_history(self) -> list[DailyPnl]:
        return [self._daily[day] for day in sorted(self._daily)]

    # ----- valuation -----------------------------------------------------------------------

    def exposure(self, symbol: str, marks: Mapping[str, Decimal]) -> Decimal:
        """Market value of the position in `symbol` (quote asset); zero when flat."""
        position = self._positions.get(symbol)
        if position is None:
            return ZERO
        if symbol not in marks:
            return self._cost_basis[symbol]  # at cost: exactly quantity x average price
        return multiply(position.quantity, marks[symbol])

    def exposures(self, marks: Mapping[str, Decimal]) -> dict[str, Decimal]:
        return {symbol: self.exposure(symbol, marks) for symbol in sorted(self._positions)}

    def total_exposure(self, marks: Mapping[str, Decimal]) -> Decimal:
        return total(list(self.exposures(marks).values()))

    def unrealized_pnl(self, symbol: str, marks: Mapping[str, Decimal]) -> Decimal:
        if symbol not in self._positions:
            return ZERO
        return subtract(self.exposure(symbol, marks), self._cost_basis[symbol])

    def total_unrealized_pnl(self, marks: Mapping[str, Decimal]) -> Decimal:
        return total([self.unrealized_pnl(symbol, marks) for symbol in sorted(self._positions)])

    def equity(self, marks: Mapping[str, Decimal]) -> Decimal:
        """Quote cash plus the market value of every position, in the quote asset. Other cash
        assets (e.g. BNB) are not counted: the portfolio has no price for them."""
        return add(self.cash(), self.total_exposure(marks))

    # ----- changing the books --------------------------------------------------------------

    def apply_fill(self, fill: Fill) -> bool:
        """Book one fill. Returns False (and changes nothing) for a fill already booked.

        Raises PortfolioError, leaving the books untouched, for a sell larger than the position,
        a buy the cash cannot pay, a fee in an asset other than quote or base, or a symbol not
        quoted in the quote asset.
        """
        if fill.fill_id in self._recent_fill_set:
            return False
        if fill.price <= 0 or fill.quantity <= 0 or fill.fee < 0:
            raise PortfolioError(f"fill {fill.fill_id}: price and quantity must be > 0 and fee >= 0")
        base = self.base_asset(fill.symbol)
        if fill.side is Side.BUY:
            self._apply_buy(fill, base)
        else:
            self._apply_sell(fill)
        self._remember(fill.fill_id)
        return True

    def _apply_buy(self, fill: Fill, base: str) -> None:
        paid = multiply(fill.quantity, fill.price)
        if fill.fee_asset == self._quote_asset:
            received, fee_value, cash_out = fill.quantity, fill.fee, add(paid, fill.fee)
        elif fill.fee_asset == base:
            # Binance keeps the fee out of the bought coins: fewer units arrive, the cash paid is
            # unchanged. The fee's value is those units at the fill price.
            received = subtract(fill.quantity, fill.fee)
            if received <= 0:
                raise PortfolioError(f"fill {fill.fill_id}: the fee takes the whole quantity")
            fee_value, cash_out = multiply(fill.fee, fill.price), paid
        else:
            raise PortfolioError(f"fill {fill.fill_id}: fee asset {fill.fee_asset} is neither {self._quote_asset} nor {base}")
        cash_left = subtract(self.cash(), cash_out)
        if cash_left < 0:
            raise PortfolioError(f"fill {fill.fill_id}: costs {cash_out} {self._quote_asset}, only {self.cash()} held")
        cost_added = multiply(received, fill.price)
        current = self._positions.get(fill.symbol)
        if current is None:
            quantity, cost = received, cost_added
            position = Position(symbol=fill.symbol, quantity=quantity, average_price=divide(cost, quantity), fees_paid=fee_value, ts_opened=fill.ts, ts_updated=fill.ts)
        else:
            quantity = add(current.quantity, received)
            cost = add(self._cost_basis[fill.symbol], cost_added)
            position = msgspec.structs.replace(
                current,
                quantity=quantity,
                average_price=divide(cost, quantity),
                fees_paid=add(current.fees_paid, fee_value),
                ts_updated=fill.ts,
            )
        self._cash[self._quote_asset] = cash_left
        self._positions[fill.symbol] = position
        self._cost_basis[fill.symbol] = cost
        self._book_day(fill.ts, ZERO, fee_value)

    def _apply_sell(self, fill: Fill) -> None:
        current = self._positions.get(fill.symbol)
        held = current.quantity if current is not None else ZERO
        if current is None or fill.quantity > held:
            raise PortfolioError(f"fill {fill.fill_id}: sells {fill.quantity} {fill.symbol}, only {held} held")
        if fill.fee_asset != self._quote_asset:
            raise PortfolioError(f"fill {fill.fill_id}: a sell's fee must be in {self._quote_asset}, got {fill.fee_asset}")
        proceeds = multiply(fill.quantity, fill.price)
        basis = self._cost_basis[fill.symbol]
        # Closing takes the whole basis, so a round trip realizes exactly proceeds - cost.
        removed_cost = basis if fill.quantity == held else divide(multiply(basis, fill.quantity), held)
        realized = subtract(proceeds, removed_cost)
        self._cash[self._quote_asset] = subtract(add(self.cash(), proceeds), fill.fee)
        remaining = subtract(held, fill.quantity)
        if remaining == 0:
            del self._positions[fill.symbol]
            del self._cost_basis[fill.symbol]
        else:
            self._positions[fill.symbol] = msgspec.structs.replace(
                current,
                quantity=remaining,
                realized_pnl=add(current.realized_pnl, realized),
                fees_paid=add(current.fees_paid, fill.fee),
                ts_updated=fill.ts,
            )
            self._cost_basis[fill.symbol] = subtract(basis, removed_cost)
        self._realized_pnl = add(self._realized_pnl, realized)
        self._book_day(fill.ts, realized, fill.fee)

    def _book_day(self, ts_ns: int, realized: Decimal, fee: Decimal) -> None:
        today = self.daily_pnl(ts_ns)
        self._daily[today.day] = DailyPnl(day=today.day, realized_pnl=add(today.realized_pnl, realized), fees=add(today.fees, fee))
        self._fees_paid = add(self._fees_paid, fee)

    def _remember(self, fill_id: str) -> None:
        if len(self._recent_fill_ids) == self._recent_fill_ids.maxlen:
            self._recent_fill_set.discard(self._recent_fill_ids[0])
        self._recent_fill_ids.append(fill_id)
        self._recent_fill_set.add(fill_id)

    def set_exit_prices(self, symbol: str, stop_price: Decimal | None, take_profit_price: Decimal | None) -> Position:
        """Attach the strategy's own exits to an open position (they win over risk's percentages)."""
        current = self._positions.get(symbol)
        if current is None:
            raise PortfolioError(f"no open position in {symbol}")
        updated = msgspec.structs.replace(current, stop_price=stop_price, take_profit_price=take_profit_price)
        self._positions[symbol] = updated
        return updated

    # ----- persistence -----------------------------------------------------------------------

    def to_snapshot(self) -> PortfolioSnapshot:
        return PortfolioSnapshot(
            version=SNAPSHOT_VERSION,
            quote_asset=self._quote_asset,
            cash=self.cash_balances,
            positions=list(self.positions.values()),
            cost_basis=dict(sorted(self._cost_basis.items())),
            daily=self.daily_history,
            realized_pnl=self._realized_pnl,
            fees_paid=self._fees_paid,
            recent_fill_ids=list(self._recent_fill_ids),
        )

    def snapshot(self) -> bytes:
        """The books as JSON (Decimals as strings, so nothing is lost)."""
        return msgspec.json.encode(self.to_snapshot())

    @classmethod
    def restore(cls, data: bytes | str) -> Portfolio:
        state = msgspec.json.decode(data, type=PortfolioSnapshot)
        if state.version != SNAPSHOT_VERSION:
            raise PortfolioError(f"portfolio snapshot version {state.version} is not {SNAPSHOT_VERSION}")
        if {position.symbol for position in state.positions} != set(state.cost_basis):
            raise PortfolioError("portfolio snapshot: positions and cost basis name different symbols")
        portfolio = cls(state.quote_asset, state.cash)
        portfolio._positions = {position.symbol: position for position in state.positions}
        portfolio._cost_basis = dict(state.cost_basis)
        portfolio._daily = {daily.day: daily for daily in state.daily}
        portfolio._realized_pnl = state.realized_pnl
        portfolio._fees_paid = state.fees_paid
        portfolio._remember_all(state.recent_fill_ids)
        return portfolio

    def _remember_all(self, fill_ids: Iterable[str]) -> None:
        for fill_id in fill_ids:
            self._remember(fill_id)
