"""Parity (acceptance 2): `tradebot backtest --through-daemon` trades exactly as in-process.

Through the daemon, the data's frames go replay exchange -> websocket -> ingest -> Redis ->
engine (consumer group) -> paper broker -> ledger, at full speed; the ledger is read back. In
process, the same frames are decoded and handed to the same engine on an in-memory bus. Every
order, every fill (price, quantity, fee, time) and every round trip must be equal, on real data,
with the default guards and exchange filters on.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.backtest.data import DataSpec, load_market_data
from bot.backtest.results import round_trips
from bot.backtest.runner import BacktestOptions, run_in_process
from bot.backtest.through_daemon import run_through_daemon

RECORDINGS = Path(__file__).resolve().parents[2] / "bot/sim/recordings"


@pytest.mark.parametrize(
    ("files", "parameters", "cash"),
    [
        # Two symbols on one account: BTCUSDT and ETHUSDT spot 1m klines, 4,319 bars each.
        (["spot_BTCUSDT_1m_2025-09-22_2025-09-25.csv", "spot_ETHUSDT_1m_2025-09-22_2025-09-25.csv"],
         {"fast_period": 5, "slow_period": 20}, Decimal(10_000)),
        # Aggregate trades (12,477 of XRPETH), bars built by the engine, an account in ETH.
        (["spot_XRPETH_aggTrades_2019-10-11_2019-10-13.csv.gz"], {"fast_period": 3, "slow_period": 10}, Decimal(10)),
    ],
    ids=["BTCUSDT+ETHUSDT-klines", "XRPETH-aggTrades"],
)
def test_through_the_daemon_the_trades_equal_the_in_process_backtest(files: list[str], parameters: dict, cash: Decimal) -> None:
    data = load_market_data([DataSpec(RECORDINGS / name) for name in files])
    options = BacktestOptions(strategy="sma_cross", parameters=parameters, cash=cash)
    in_process = run_in_process(options, data)
    through_daemon = run_through_daemon(options, data)

    assert len(in_process.fills) >= 100  # a run that trades, or parity would prove nothing
    assert list(through_daemon.fills) == list(in_process.fills)
    assert list(through_daemon.orders) == list(in_process.orders)
    assert round_trips(through_daemon.fills) == round_trips(in_process.fills)
    assert {fill.symbol for fill in in_process.fills} == set(data.symbols)


def test_depth_books_are_refused_through_the_daemon() -> None:
    data = load_market_data([DataSpec(RECORDINGS / "spot_BTCUSDT_depth100ms-bookTicker-trade_2024-08-08T2354_2024-08-09T0005.jsonl.gz")])
    from bot.backtest.runner import BacktestError

    with pytest.raises(BacktestError, match="replays klines and trades only"):
        run_through_daemon(BacktestOptions(strategy="sma_cross", parameters={"interval": "1s"}), data)
