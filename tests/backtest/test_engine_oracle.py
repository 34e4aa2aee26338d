"""The engine's backtest of sma_cross equals the vectorised oracle's on real data (acceptance 1).

The engine runs as `tradebot backtest --no-guards --no-exchange-filters` would: the daemon's own
engine, strategy, risk and paper broker, event by event, Decimal money, fills at the next bar's
open. The oracle is vectorbt's `Portfolio.from_signals` with the signals shifted one bar and
`price=open` (tests/backtest/vectorized_oracle.py), float money. Both follow the README's fill
convention; they must agree on every trade and on the final equity to 1e-6 relative.
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import pytest

from backtest.vectorized_oracle import load_klines_frame, sma_cross_oracle
from bot.backtest.data import DataSpec, load_market_data
from bot.backtest.results import equity_curve, round_trips
from bot.backtest.runner import BacktestOptions, run_in_process

REPOSITORY = Path(__file__).resolve().parents[2]
BTC_1M = REPOSITORY / "bot/sim/recordings/spot_BTCUSDT_1m_2025-09-22_2025-09-25.csv"
FIL_1M = REPOSITORY / "scripts/data/futures_um_FILUSDT_1m_2023-08-01_2023-11-30.csv.gz"


@pytest.mark.parametrize(
    ("path", "fast", "slow", "expected_trades"),
    [
        (BTC_1M, 5, 20, 138),  # spot BTCUSDT, 4,319 bars
        (FIL_1M, 20, 60, 1776),  # USD-M futures FILUSDT, 175,680 bars, ~130 bars of exact SMA ties
    ],
    ids=["BTCUSDT-5-20", "FILUSDT-20-60"],
)
def test_sma_cross_trades_and_final_equity_equal_the_vectorised_oracle(path: Path, fast: int, slow: int, expected_trades: int) -> None:
    oracle = sma_cross_oracle(load_klines_frame(path), fast, slow, cash=10_000.0, fee_rate=0.001)
    data = load_market_data([DataSpec(path)])
    run = run_in_process(
        BacktestOptions(
            strategy="sma_cross", parameters={"fast_period": fast, "slow_period": slow},
            cash=Decimal(10_000), fee_bps=Decimal(10), exchange_filters=False, guards=False,
        ),
        data,
    )
    trips = round_trips(run.fills)
    final_equity = equity_curve(run)[-1].equity

    assert len(trips) == oracle.n_trades == expected_trades
    assert math.isclose(float(final_equity), oracle.final_equity, rel_tol=1e-6), (final_equity, oracle.final_equity)
    # Trade by trade: the same bars, the same fill prices (each the recorded open of a bar).
    assert [trip.entry_time for trip in trips] == [int(moment.value) for moment in oracle.entry_times]
    assert [trip.exit_time for trip in trips] == [int(moment.value) for moment in oracle.exit_times]
    assert [float(trip.entry_price) for trip in trips] == list(oracle.entry_prices)
    assert [float(trip.exit_price) for trip in trips] == list(oracle.exit_prices)
    # The convention's all-cash buy: qty = cash / (price * (1 + fee)), here to 1e-12 of a unit.
    first_buy = run.fills[0]
    assert first_buy.quantity == (Decimal(10_000) / (first_buy.price * Decimal("1.001"))).quantize(Decimal("1e-12"), rounding="ROUND_DOWN")
