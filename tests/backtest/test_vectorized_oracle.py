"""The vectorbt oracle of sma_cross agrees with a plain loop written straight from the convention.

Both run on real Binance klines. The loop shares nothing with the oracle: it reads the CSV with
the csv module, keeps the closes as Decimal (so its moving averages are exact, as the oracle's
are) and walks the bars one by one, filling each decision at the next bar's open.

Cost: the first `Portfolio.from_signals` call in a process JIT-compiles vectorbt's simulator
(about 7-13 s on the 2-core machine; numba cannot cache it because it takes a function argument),
plus about 3-5 s to import vectorbt. The runs themselves take well under a second.
"""

from __future__ import annotations

import csv
import gzip
import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from backtest.vectorized_oracle import (
    exact_sma_side,
    float_sma_side,
    load_klines_frame,
    sma_cross_oracle,
)

REPOSITORY = Path(__file__).resolve().parents[2]
BTC_1M = REPOSITORY / "bot/sim/recordings/spot_BTCUSDT_1m_2025-09-22_2025-09-25.csv"
FIL_1M = REPOSITORY / "scripts/data/futures_um_FILUSDT_1m_2023-08-01_2023-11-30.csv.gz"


@dataclass(frozen=True)
class LoopResult:
    n_trades: int
    final_equity: float
    entry_times_ms: list[int]
    entry_prices: list[float]
    exit_times_ms: list[int]
    exit_prices: list[float]


def read_bars(path: Path) -> list[tuple[int, float, Decimal]]:
    """(open_time_ms, open, close) per bar, straight from the CSV text."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        return [(int(row["open_time_ms"]), float(row["open"]), Decimal(row["close"])) for row in csv.DictReader(handle)]


def loop_backtest(
    bars: list[tuple[int, float, Decimal]], fast: int, slow: int, cash: float = 10000.0, fee_rate: float = 0.001
) -> LoopResult:
    """sma_cross under the issue's convention, one bar at a time."""
    closes = [close for _, _, close in bars]
    previous_side: int | None = None  # sign(fast - slow) on the previous bar, None before it exists
    pending: str | None = None  # decided on the previous close, to fill at this bar's open
    quantity = 0.0
    result = LoopResult(0, 0.0, [], [], [], [])
    trades = 0
    for index, (open_time_ms, open_price, _) in enumerate(bars):
        if pending == "buy" and quantity == 0.0:
            quantity = cash / (open_price * (1 + fee_rate))
            cash = 0.0
            result.entry_times_ms.append(open_time_ms)
            result.entry_prices.append(open_price)
        elif pending == "sell" and quantity > 0.0:
            cash = quantity * open_price * (1 - fee_rate)
            quantity = 0.0
            trades += 1
            result.exit_times_ms.append(open_time_ms)
            result.exit_prices.append(open_price)
        pending = None
        if index + 1 < slow:
            continue
        # Exact: compare sum_fast / fast with sum_slow / slow by cross-multiplying Decimal sums.
        fast_sum = sum(closes[index + 1 - fast:index + 1])
        slow_sum = sum(closes[index + 1 - slow:index + 1])
        difference = fast_sum * slow - slow_sum * fast
        side = (difference > 0) - (difference < 0)
        if previous_side is not None:
            if side > 0 and previous_side <= 0:
                pending = "buy"
            elif side < 0 and previous_side >= 0:
                pending = "sell"
        previous_side = side
    last_close = float(closes[-1])
    return LoopResult(
        n_trades=trades,
        final_equity=cash + quantity * last_close,  # an open position: last close, no exit fee
        entry_times_ms=result.entry_times_ms[:trades],  # closed round trips only
        entry_prices=result.entry_prices[:trades],
        exit_times_ms=result.exit_times_ms,
        exit_prices=result.exit_prices,
    )


def as_ms(times) -> list[int]:
    return [int(time.value // 1_000_000) for time in times]


@pytest.mark.parametrize(
    ("path", "fast", "slow"),
    [(BTC_1M, 5, 20), (FIL_1M, 20, 60)],
    ids=["BTCUSDT-spot-1m-sma5-20", "FILUSDT-futures-1m-sma20-60"],
)
def test_oracle_agrees_with_plain_loop_on_real_klines(path: Path, fast: int, slow: int) -> None:
    frame = load_klines_frame(path)
    oracle = sma_cross_oracle(frame, fast, slow, cash=10000.0, fee_rate=0.001)
    loop = loop_backtest(read_bars(path), fast, slow)

    assert oracle.n_trades == loop.n_trades
    assert oracle.n_trades > 100  # the check is only worth something if the strategy trades
    assert as_ms(oracle.entry_times) == loop.entry_times_ms
    assert list(oracle.entry_prices) == loop.entry_prices
    assert as_ms(oracle.exit_times) == loop.exit_times_ms
    assert list(oracle.exit_prices) == loop.exit_prices
    assert math.isclose(oracle.final_equity, loop.final_equity, rel_tol=1e-9, abs_tol=0.0)
    # Every fill is at an open of the bar after the decision, never at a close.
    opens = dict(zip(frame["open_time_ms"], frame["open"]))
    assert all(opens[time] == price for time, price in zip(loop.entry_times_ms, loop.entry_prices))
    # The vectorbt portfolio counts the open position as a trade; the oracle must not.
    assert oracle.portfolio.trades.count() == oracle.n_trades + int(oracle.open_position)


def test_oracle_buys_with_all_cash_net_of_the_fee() -> None:
    """The first fill on real BTCUSDT bars: qty = cash / (price * (1 + fee)), cash left = 0,
    and the fee is charged in quote on top of the notional."""
    frame = load_klines_frame(BTC_1M)
    orders = sma_cross_oracle(frame, 5, 20, cash=10000.0, fee_rate=0.001).portfolio.orders.values
    first = orders[0]
    price = float(first["price"])
    assert math.isclose(float(first["size"]), 10000.0 / (price * 1.001), rel_tol=1e-12)
    assert math.isclose(float(first["fees"]), float(first["size"]) * price * 0.001, rel_tol=1e-12)
    assert math.isclose(float(first["size"]) * price + float(first["fees"]), 10000.0, rel_tol=1e-12)


def test_exact_averages_are_needed_on_filusdt() -> None:
    """Why the oracle compares the averages exactly: on real FILUSDT 1m bars SMA20 equals SMA60
    exactly on many bars, and float means then put some of those bars on either side by rounding
    noise, which changes the crosses."""
    frame = load_klines_frame(FIL_1M)
    exact = exact_sma_side(frame["close"].to_numpy(), 20, 60)
    floating = float_sma_side(frame["close"], 20, 60)
    ties = int((exact == 0).sum())
    assert ties > 100
    defined = ~(exact != exact)  # not NaN
    assert (exact[defined] != floating[defined]).sum() > 0
    # Away from ties, float and exact agree: the only disagreement is on exact ties.
    assert ((exact[defined] != floating[defined]) & (exact[defined] != 0)).sum() == 0
