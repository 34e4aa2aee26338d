"""An independent, vectorized backtest of sma_cross under the `tradebot backtest` convention.

The convention (from the issue): a signal decided on the close of bar t fills at the open of bar
t+1; a buy spends all cash, qty = cash / (price * (1 + fee)), fee charged in quote; a sell of the
whole position yields qty * price * (1 - fee); no exchange-filter rounding; a position still open
at the end is valued at the last close without an exit fee and is not counted as a trade.
sma_cross is long-only: enter when fast[t] > slow[t] and fast[t-1] <= slow[t-1], exit when
fast[t] < slow[t] and fast[t-1] >= slow[t-1] (fast/slow = simple moving averages of closes).

vectorbt's `Portfolio.from_signals` does the bookkeeping: the signals are shifted one bar and
filled at price=open, which is exactly "decided at close t, filled at open t+1".

Why the averages are compared in exact arithmetic by default: on real data the two averages are
often *exactly* equal (FILUSDT trades in 0.001 steps and sits still for minutes; its 4 months of
1m bars hold about 130 bars where SMA20 == SMA60 exactly). On such a tie, float means decide the
side by their rounding noise, and different but equally valid float summations (pandas' rolling
Kahan sum, math.fsum of the window, a running total) disagree on it: with sma 20/60 on FILUSDT
pandas' rolling means give 1783 closed trades, fsum means 1779, the exact comparison 1776. A
rule stated in real numbers has only one right answer, so the oracle compares
sum_fast * slow against sum_slow * fast in integer price units (closes are decimal with a fixed
tick, so they scale to integers without error). `averages="float"` keeps the pandas
rolling-mean version for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import vectorbt as vbt
from vectorbt.portfolio.enums import TradeStatus

# The columns tradebot's kline CSV files start with (Binance's kline layout); later ones vary.
KLINE_COLUMNS = ("open_time_ms", "open", "high", "low", "close", "volume", "close_time_ms")


@dataclass(frozen=True)
class OracleResult:
    n_trades: int  # closed round trips only
    final_equity: float  # cash plus an open position valued at the last close, no exit fee
    entry_times: tuple[pd.Timestamp, ...]  # of each closed trade, in order
    entry_prices: tuple[float, ...]
    exit_times: tuple[pd.Timestamp, ...]
    exit_prices: tuple[float, ...]
    open_position: bool  # whether a position was still open on the last bar
    portfolio: Any  # the vectorbt Portfolio, for inspection


def load_klines_frame(path: str | Path) -> pd.DataFrame:
    """Read a kline CSV (plain or .gz: pandas infers it from the name), indexed by open time.

    Prices and volume are float64; the index is a naive-UTC DatetimeIndex named open_time with a
    frequency when the bars are evenly spaced (vectorbt wants one for its statistics)."""
    frame = pd.read_csv(path)
    missing = [column for column in KLINE_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not a kline CSV, missing columns {missing}")
    for column in ("open", "high", "low", "close", "volume"):
        frame[column] = frame[column].astype("float64")
    # Naive UTC, not tz-aware: vectorbt turns a tz-aware index into an array of Timestamp objects
    # on every wrap (seconds per call on 175k bars); a naive one stays datetime64.
    index = pd.DatetimeIndex(pd.to_datetime(frame["open_time_ms"], unit="ms"), name="open_time")
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise ValueError(f"{path}: open times are not strictly increasing")
    frame.index = index
    steps = np.unique(np.diff(frame["open_time_ms"].to_numpy()))
    if len(steps) == 1:
        frame.index.freq = pd.Timedelta(milliseconds=int(steps[0]))
    return frame


def price_decimals(prices: np.ndarray, most: int = 10) -> int:
    """The fewest decimals that write every price exactly (the symbol's tick precision)."""
    for decimals in range(most + 1):
        scaled = prices * 10.0**decimals
        if np.all(np.abs(scaled - np.rint(scaled)) < 1e-6):
            return decimals
    raise ValueError(f"prices need more than {most} decimals; cannot scale them to integers exactly")


def exact_sma_side(close: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """sign(SMA_fast - SMA_slow) per bar, computed exactly; NaN until both averages exist.

    SMA_fast > SMA_slow  <=>  sum_fast / fast > sum_slow / slow  <=>  sum_fast * slow > sum_slow * fast,
    with the sums taken over closes scaled to integer ticks (int64, no rounding anywhere)."""
    close = np.asarray(close, dtype="float64")
    units = np.rint(close * 10.0 ** price_decimals(close)).astype(np.int64)
    if units.size and int(units.max()) * slow * max(fast, slow) >= 2**62:
        raise ValueError("prices too large for an exact int64 comparison of the window sums")
    cumulative = np.concatenate(([0], np.cumsum(units)))
    side = np.full(close.size, np.nan)
    if close.size >= slow:
        ends = np.arange(slow, close.size + 1)  # window [end - period, end) for bar end - 1
        sum_fast = cumulative[ends] - cumulative[ends - fast]
        sum_slow = cumulative[ends] - cumulative[ends - slow]
        side[slow - 1:] = np.sign(sum_fast * slow - sum_slow * fast)
    return side


def float_sma_side(close: pd.Series, fast: int, slow: int) -> np.ndarray:
    """sign(fast - slow) of pandas' float rolling means (ties decided by rounding noise)."""
    difference = close.rolling(fast).mean() - close.rolling(slow).mean()
    return np.sign(difference.to_numpy())


def cross_signals(side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(up, down) crosses decided on each bar's close from the side of fast vs slow.

    up[t]: side[t] > 0 and side[t-1] <= 0; down[t]: side[t] < 0 and side[t-1] >= 0. NaN compares
    False, so the first cross is possible only when both averages exist at t-1 and at t."""
    up = np.zeros(side.size, dtype=bool)
    down = np.zeros(side.size, dtype=bool)
    with np.errstate(invalid="ignore"):
        up[1:] = (side[1:] > 0) & (side[:-1] <= 0)
        down[1:] = (side[1:] < 0) & (side[:-1] >= 0)
    return up, down


def sma_cross_oracle(
    klines: pd.DataFrame,
    fast: int,
    slow: int,
    cash: float = 10000.0,
    fee_rate: float = 0.001,
    averages: Literal["exact", "float"] = "exact",
) -> OracleResult:
    """sma_cross backtested by vectorbt under the convention above (see the module docstring)."""
    if not 0 < fast < slow:
        raise ValueError(f"need 0 < fast < slow, got fast={fast} slow={slow}")
    close = klines["close"]
    if averages == "exact":
        side = exact_sma_side(close.to_numpy(), fast, slow)
    elif averages == "float":
        side = float_sma_side(close, fast, slow)
    else:
        raise ValueError(f"averages must be 'exact' or 'float', got {averages!r}")
    up, down = cross_signals(side)
    # Decided at close t, acted on at t+1: shift one bar; the first bar has no signal (False,
    # never NaN, which vectorbt would refuse as a boolean mask) and a cross on the last bar
    # falls off the end, as it would in the engine (there is no next open to fill at).
    entries = pd.Series(up, index=klines.index).shift(1, fill_value=False)
    exits = pd.Series(down, index=klines.index).shift(1, fill_value=False)
    portfolio = vbt.Portfolio.from_signals(
        close=close,
        entries=entries,
        exits=exits,
        price=klines["open"],
        # size=inf with the default size_type "amount" is "as much as cash allows": vectorbt then
        # buys (cash / (1 + fees)) / price units, i.e. qty = cash / (price * (1 + fee)), and sells
        # the whole position on an exit for qty * price * (1 - fee).
        size=np.inf,
        fees=fee_rate,
        init_cash=cash,
        direction="longonly",
        accumulate=False,  # a buy signal while long (a re-cross after a tie) is ignored
        freq=klines.index.freq or pd.Timedelta(minutes=1),
    )
    # Only closed round trips count: vectorbt's trade records also hold the still-open one
    # (portfolio.trades.count() includes it). The raw records are used, not records_readable,
    # which costs seconds on thousands of trades.
    records = portfolio.trades.values
    closed = records[records["status"] == TradeStatus.Closed]
    index = klines.index
    # A trade record's prices are size-weighted averages, a few ulps off the fill price; each
    # bar has at most one order here, so the fill prices are read from the order records.
    orders = portfolio.orders.values
    fill_price = dict(zip(orders["idx"].tolist(), orders["price"].tolist()))
    return OracleResult(
        n_trades=int(closed.size),
        final_equity=float(portfolio.final_value()),
        entry_times=tuple(index[closed["entry_idx"]]),
        entry_prices=tuple(fill_price[bar] for bar in closed["entry_idx"].tolist()),
        exit_times=tuple(index[closed["exit_idx"]]),
        exit_prices=tuple(fill_price[bar] for bar in closed["exit_idx"].tolist()),
        open_position=bool(np.any(records["status"] == TradeStatus.Open)),
        portfolio=portfolio,
    )
