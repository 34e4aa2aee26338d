"""The nightly pipeline's way of judging a candidate before promoting it: the existing backtest
engine runs ml_signal pinned to a stored, not promoted, version directory (`model_directory`)."""

from __future__ import annotations

from bot.backtest.data import DataSpec, load_market_data
from bot.backtest.runner import BacktestOptions, run_in_process
from bot.models.registry import ModelRegistry
from model_support import RECORDING, bars, store, train

VERSION = "20250924T020000Z"


def test_a_stored_candidate_is_backtested_through_the_engine(tmp_path):
    registry = ModelRegistry(tmp_path)
    store(registry, "signal", VERSION, "classifier", train("classifier", 2_400), 2_400)
    assert registry.current_version("signal") is None  # a candidate, not promoted
    test_bars = bars()[2_400:3_400]  # after the training window: data the model has not seen
    data = load_market_data([DataSpec(RECORDING)], start_ns=test_bars[0].open_time, end_ns=test_bars[-1].close_time + 1)
    options = BacktestOptions(strategy="ml_signal", parameters={
        "model_directory": str(registry.directory("signal", VERSION)), "threshold": 0.45, "max_model_age_minutes": 5_000,
    })
    first = run_in_process(options, data)
    assert len(first.fills) >= 4 and {fill.side.value for fill in first.fills} == {"BUY", "SELL"}
    assert first.parameters["model_directory"].endswith(f"signal/{VERSION}")
    again = run_in_process(options, data)
    assert list(again.fills) == list(first.fills)  # deterministic: a pinned model, bar-time staleness
