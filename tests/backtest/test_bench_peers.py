"""The peers of scripts/bench_backtest.py implement the same rules: on real BTCUSDT 1m bars,
backtesting.py and vectorbt make the same trades at the same prices and end within 1e-9.

(backtesting.py buys whole units of FRACTIONAL_UNIT coin, so its equity is a few 1e-10 off.)"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
BTC_1M = REPOSITORY / "bot/sim/recordings/spot_BTCUSDT_1m_2025-09-22_2025-09-25.csv"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_backtest", REPOSITORY / "scripts/bench_backtest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_backtesting_py_and_vectorbt_agree_on_real_klines() -> None:
    bench = load_bench()
    frame = bench.load_klines_frame(BTC_1M)
    reference = bench.run_backtesting_py(frame, 5, 20, 10000.0, 0.001, repeats=1)
    vectorbt = bench.run_vectorbt(frame, 5, 20, 10000.0, 0.001, repeats=1)
    assert reference.bars == vectorbt.bars == len(frame)
    assert reference.n_trades == vectorbt.n_trades > 100
    assert bench.same_fills(reference, vectorbt)
    assert math.isclose(reference.final_equity, vectorbt.final_equity, rel_tol=1e-9)
    # It rounds buys down, never up: it never spends more than the convention's all-cash buy.
    assert reference.final_equity != vectorbt.final_equity


def test_the_engine_measured_by_the_benchmark_trades_like_its_peers() -> None:
    """What the benchmark times is the engine trading the same rules: same trades as vectorbt."""
    bench = load_bench()
    frame = bench.load_klines_frame(BTC_1M)
    vectorbt = bench.run_vectorbt(frame, 5, 20, 10000.0, 0.001, repeats=1)
    for guards in (False, True):
        tradebot = bench.run_tradebot(BTC_1M, 5, 20, 10000.0, 0.001, guards=guards, repeats=1)
        assert tradebot.bars == len(frame) == 4319
        assert tradebot.n_trades == vectorbt.n_trades == 138
        assert bench.same_fills(tradebot, vectorbt)
        assert math.isclose(tradebot.final_equity, vectorbt.final_equity, rel_tol=1e-9)
