"""Results of a finished backtest: round trips, the equity curve and the summary figures. Pure.

Conventions (what a demanding user needs to know to trust or reproduce a figure):

- Money (cash, equity, prices, quantities, fees, PnL) is exact `Decimal` and leaves `summarize` as
  a plain decimal string, never in exponent notation (`"10234.5600"`), like Binance's API. Ratios
  (returns, drawdown, Sharpe, ...) are JSON numbers. A figure that is undefined is `None` (JSON
  `null`), never NaN or infinity.
- Fees are in the quote asset (`Fill.fee`; the paper broker charges them there). A fill whose fee
  is in another asset is refused rather than silently mis-counted.
- Round trip: per symbol, from flat to flat (long-only). Several buys and sells may make one trip:
  entry/exit prices are quantity-weighted averages, quantity is the total bought, fees are all fees
  of its fills, pnl = sell proceeds - buy cost - fees. Flat means the held quantity is exactly zero
  (Decimal, no tolerance: the broker's quantities are on the exchange's step grid). A position
  still open at the end is not a round trip.
- Equity curve: one point per distinct bar close time over all symbols (union, ascending). At time
  t, cash = starting cash + every fill with ts <= t (buy: -price*qty - fee, sell: +price*qty - fee);
  a holding is marked at its symbol's latest close at or before t, or, before that symbol's first
  close, at the price of its latest fill (at cost: counting it as 0 would invent a drawdown). A
  position open at the end is valued at the last close with no exit fee. If fills happen after
  the last bar close, one more point at the last fill's time keeps them in the final equity.
- Returns: per-point simple returns of the equity, the first one measured from the starting cash
  (the account's value before the first bar), so there are as many returns as curve points.
- total_return = final equity / starting cash - 1.
- max_drawdown: the largest fall from the running peak as a positive fraction of that peak; the
  peak starts at the starting cash, so a loss on the very first bar counts.
- Sharpe = mean(r) / stdev(r) * sqrt(bars per year), stdev with n-1 degrees of freedom (as pandas);
  Sortino = mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(bars per year), the downside deviation taken
  over all bars. A year is 365 days (crypto trades every day); bars per year = 365 days / bar
  interval. Risk-free rate 0. None when fewer than two returns or the deviation is zero.
- exposure: the fraction of curve points at which some position is held.
- win_rate: trips with pnl > 0 / trips (None without trips; a trip at exactly 0 is not a win).
- profit_factor: gross profit / gross loss of the trips; None when there is no losing trip (the
  ratio would be infinite or undefined), gross profit and gross loss are reported beside it.
- fees_paid: the sum of all fill fees, including those of a position still open.
- Averages (entry/exit price, average trade pnl) are exact Decimal divisions carried to Decimal's
  default 28 significant digits; nothing is rounded for display here (report.html rounds).
- orders_by_status counts every OrderStatus, zeros included, so the keys never change.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from itertools import pairwise
from typing import Any

from bot.backtest.run import BacktestRun
from bot.domain.trading import Fill, OrderStatus, Side

SUMMARY_FORMAT = "tradebot-backtest-summary/1"
NANOSECONDS_PER_YEAR = 365 * 24 * 3600 * 10**9
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ZERO = Decimal(0)


@dataclass(frozen=True)
class RoundTrip:
    """One trade from flat to flat in one symbol (see the module docstring for the averages)."""

    symbol: str
    entry_time: int
    exit_time: int
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal
    fees: Decimal
    pnl: Decimal


@dataclass(frozen=True)
class EquityPoint:
    """The account at one bar close: equity = cash + position_value. `in_position` says some
    quantity is held (kept apart from position_value, which a close of 0 would make 0)."""

    time: int
    equity: Decimal
    cash: Decimal
    position_value: Decimal
    in_position: bool = False


@dataclass
class _OpenTrip:
    entry_time: int
    held: Decimal = ZERO
    bought: Decimal = ZERO
    cost: Decimal = ZERO
    sold: Decimal = ZERO
    proceeds: Decimal = ZERO
    fees: Decimal = ZERO


def iso_time(ts_ns: int) -> str:
    """ISO-8601 UTC with milliseconds, e.g. `2025-09-22T00:00:59.999Z` (floors to the ms).
    Arithmetic rather than strftime per call: equity.csv formats one per bar (175,680 and more)."""
    days, of_day = divmod(ts_ns // 1_000_000, 86_400_000)
    hours, of_hour = divmod(of_day, 3_600_000)
    minutes, of_minute = divmod(of_hour, 60_000)
    seconds, milliseconds = divmod(of_minute, 1000)
    return f"{_date_text(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{milliseconds:03d}Z"


@lru_cache(maxsize=4096)
def _date_text(days_since_epoch: int) -> str:
    return (_EPOCH + timedelta(days=days_since_epoch)).strftime("%Y-%m-%d")


def money_text(value: Decimal) -> str:
    """A decimal string without exponent notation, and never `-0`."""
    text = format(value, "f")
    return "0" if value.is_zero() and not value.is_nan() else text


def round_trips(fills: Iterable[Fill]) -> list[RoundTrip]:
    """The closed round trips, in the order they closed. Raises ValueError on a sell of more than
    is held (this accounting is long-only, as the engine is)."""
    trips: list[RoundTrip] = []
    open_trips: dict[str, _OpenTrip] = {}
    for fill in fills:
        value = fill.price * fill.quantity
        trip = open_trips.get(fill.symbol)
        if fill.side is Side.BUY:
            if trip is None:
                trip = open_trips[fill.symbol] = _OpenTrip(entry_time=fill.ts)
            trip.held += fill.quantity
            trip.bought += fill.quantity
            trip.cost += value
            trip.fees += fill.fee
            continue
        if trip is None or fill.quantity > trip.held:
            held = ZERO if trip is None else trip.held
            raise ValueError(f"fill {fill.fill_id} sells {fill.quantity} {fill.symbol} but only {held} is held")
        trip.held -= fill.quantity
        trip.sold += fill.quantity
        trip.proceeds += value
        trip.fees += fill.fee
        if trip.held == 0:
            del open_trips[fill.symbol]
            trips.append(RoundTrip(
                symbol=fill.symbol, entry_time=trip.entry_time, exit_time=fill.ts, quantity=trip.bought,
                entry_price=trip.cost / trip.bought, exit_price=trip.proceeds / trip.sold,
                fees=trip.fees, pnl=trip.proceeds - trip.cost - trip.fees,
            ))
    return trips


def _check_fee_assets(run: BacktestRun) -> None:
    for fill in run.fills:
        if fill.fee != 0 and fill.fee_asset != run.quote_asset:
            raise ValueError(f"fill {fill.fill_id} pays its fee in {fill.fee_asset}, not the quote asset {run.quote_asset}")


def equity_curve(run: BacktestRun) -> list[EquityPoint]:
    """The account at every bar close (see the module docstring for marks and the trailing point)."""
    _check_fee_assets(run)
    events: list[tuple[int, str, Decimal]] = []  # every close as (time, symbol, price)
    for symbol in sorted(run.closes):
        events.extend((time, symbol, price) for time, price in run.closes[symbol])
    events.sort(key=lambda event: (event[0], event[1]))
    times = sorted({event[0] for event in events})
    fills = sorted(run.fills, key=lambda fill: fill.ts)  # stable: keeps the given order of ties
    if fills and (not times or fills[-1].ts > times[-1]):
        times.append(fills[-1].ts)
    cash = run.starting_cash
    held: dict[str, Decimal] = {}
    marks: dict[str, Decimal] = {}
    closed_marks: set[str] = set()  # symbols marked by a close (fills no longer move their mark)
    fill_index = close_index = 0
    curve: list[EquityPoint] = []
    for time in times:
        while fill_index < len(fills) and fills[fill_index].ts <= time:
            fill = fills[fill_index]
            value = fill.price * fill.quantity
            if fill.side is Side.BUY:
                cash -= value + fill.fee
                held[fill.symbol] = held.get(fill.symbol, ZERO) + fill.quantity
            else:
                cash += value - fill.fee
                held[fill.symbol] = held.get(fill.symbol, ZERO) - fill.quantity
            if fill.symbol not in closed_marks:
                marks[fill.symbol] = fill.price
            fill_index += 1
        while close_index < len(events) and events[close_index][0] <= time:
            _, symbol, price = events[close_index]
            marks[symbol] = price
            closed_marks.add(symbol)
            close_index += 1
        position_value = sum((quantity * marks[symbol] for symbol, quantity in sorted(held.items()) if quantity), ZERO)
        curve.append(EquityPoint(
            time=time, equity=cash + position_value, cash=cash, position_value=position_value,
            in_position=any(quantity != 0 for quantity in held.values()),
        ))
    return curve


def _simple_returns(start: Decimal, curve: Sequence[EquityPoint]) -> list[float] | None:
    """Per-point simple returns, the first from `start`; None if equity ever reaches zero."""
    values = [start, *(point.equity for point in curve)]
    if any(value <= 0 for value in values[:-1]):
        return None
    return [float(current / previous - 1) for previous, current in pairwise(values)]


def _ratio(numerator: float, denominator: float) -> float | None:
    if denominator == 0 or not math.isfinite(denominator):
        return None
    result = numerator / denominator
    return result if math.isfinite(result) else None


def risk_ratios(returns: Sequence[float], bar_interval_ns: int) -> tuple[float | None, float | None]:
    """(Sharpe, Sortino), annualised with sqrt(bars per 365-day year), risk-free 0."""
    if len(returns) < 2 or bar_interval_ns <= 0:
        return None, None
    count = len(returns)
    mean = math.fsum(returns) / count
    deviation = math.sqrt(math.fsum((value - mean) ** 2 for value in returns) / (count - 1))
    downside = math.sqrt(math.fsum(min(value, 0.0) ** 2 for value in returns) / count)
    scale = math.sqrt(NANOSECONDS_PER_YEAR / bar_interval_ns)
    sharpe, sortino = _ratio(mean, deviation), _ratio(mean, downside)
    return (None if sharpe is None else sharpe * scale), (None if sortino is None else sortino * scale)


def max_drawdown(start: Decimal, curve: Sequence[EquityPoint]) -> tuple[float, int | None, int | None]:
    """(largest fall from the running peak as a fraction of it, peak time, trough time); the peak
    starts at `start` (time None if the peak was the starting cash)."""
    peak, peak_time = start, None
    worst, worst_peak_time, worst_time = ZERO, None, None
    for point in curve:
        if point.equity > peak:
            peak, peak_time = point.equity, point.time
        elif peak > 0 and (peak - point.equity) / peak > worst:
            worst, worst_peak_time, worst_time = (peak - point.equity) / peak, peak_time, point.time
    return float(worst), worst_peak_time, worst_time


def json_safe(value: Any) -> Any:
    """Settings and parameters as JSON values: Decimal as string, enums by value, mappings with
    sorted string keys, sequences as lists, pydantic models dumped, NaN/inf as None."""
    if isinstance(value, Decimal):
        return money_text(value) if value.is_finite() else None
    if isinstance(value, Enum):
        return json_safe(value.value)
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in sorted(value.items(), key=lambda pair: str(pair[0]))}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((json_safe(item) for item in value), key=repr)
    if hasattr(value, "model_dump"):
        return json_safe(value.model_dump(mode="json"))
    return str(value)


def summarize(run: BacktestRun, trips: Sequence[RoundTrip], curve: Sequence[EquityPoint]) -> dict[str, Any]:
    """The summary.json content (see the module docstring for every convention)."""
    start = run.starting_cash
    final = curve[-1].equity if curve else start
    returns = _simple_returns(start, curve)
    sharpe, sortino = risk_ratios(returns, run.bar_interval_ns) if returns is not None else (None, None)
    drawdown, drawdown_peak, drawdown_trough = max_drawdown(start, curve)
    winners = [trip.pnl for trip in trips if trip.pnl > 0]
    losers = [trip.pnl for trip in trips if trip.pnl < 0]
    gross_profit, gross_loss = sum(winners, ZERO), -sum(losers, ZERO)
    held = _final_holdings(run.fills)
    status_counts = {status.value: 0 for status in OrderStatus}
    for order in run.orders:
        status_counts[order.status.value] = status_counts.get(order.status.value, 0) + 1
    return {
        "format": SUMMARY_FORMAT,
        "strategy": run.strategy,
        "parameters": json_safe(run.parameters),
        "settings": json_safe(run.settings),
        "symbols": list(run.symbols),
        "quote_asset": run.quote_asset,
        "data_start": iso_time(run.data_start_ns),
        "data_end": iso_time(run.data_end_ns),
        "data_start_ns": run.data_start_ns,
        "data_end_ns": run.data_end_ns,
        "bar_interval_seconds": run.bar_interval_ns / 10**9,
        "bars": len(curve),
        "starting_cash": money_text(start),
        "final_equity": money_text(final),
        "net_profit": money_text(final - start),
        "total_return": float(final / start - 1) if start > 0 else None,
        "max_drawdown": drawdown,
        "max_drawdown_peak": None if drawdown_peak is None else iso_time(drawdown_peak),
        "max_drawdown_trough": None if drawdown_trough is None else iso_time(drawdown_trough),
        "sharpe": sharpe,
        "sortino": sortino,
        "exposure": (sum(1 for point in curve if point.in_position) / len(curve)) if curve else None,
        "n_trades": len(trips),
        "win_rate": len(winners) / len(trips) if trips else None,
        "profit_factor": float(gross_profit / gross_loss) if gross_loss > 0 else None,
        "gross_profit": money_text(gross_profit),
        "gross_loss": money_text(gross_loss),
        "average_trade_pnl": money_text(sum((trip.pnl for trip in trips), ZERO) / len(trips)) if trips else None,
        "best_trade_pnl": money_text(max(trip.pnl for trip in trips)) if trips else None,
        "worst_trade_pnl": money_text(min(trip.pnl for trip in trips)) if trips else None,
        "fees_paid": money_text(sum((fill.fee for fill in run.fills), ZERO)),
        "n_fills": len(run.fills),
        "n_orders": len(run.orders),
        "orders_by_status": status_counts,
        "open_positions": {symbol: money_text(quantity) for symbol, quantity in sorted(held.items()) if quantity},
        "warnings": list(run.warnings),
    }


def _final_holdings(fills: Iterable[Fill]) -> dict[str, Decimal]:
    held: dict[str, Decimal] = {}
    for fill in fills:
        change = fill.quantity if fill.side is Side.BUY else -fill.quantity
        held[fill.symbol] = held.get(fill.symbol, ZERO) + change
    return held
