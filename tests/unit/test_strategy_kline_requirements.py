"""Strategies that need kline columns a data source lacks are refused with one clear line before a
run, and a bar without such a column is refused at run time: nothing trades on invented numbers.

Data: the real OHLCV-only BTCUSDT day in tests/data (quote volume, trade count and taker columns
empty) and real 2025-09-22 BTCUSDT bars with taker volumes.
"""

from __future__ import annotations

import msgspec
import pytest
from market_files import BTC_2025, OHLCV_ONLY, recorded_klines

from bot.domain.events import OPTIONAL_KLINE_FIELDS
from bot.domain.trading import SignalAction
from bot.strategy import (
    StrategyConfigError,
    available_strategies,
    load_strategy,
    missing_kline_fields,
    refuse_missing_kline_fields,
    required_kline_fields,
)
from strategies.sma_cross import SmaCross
from strategies.taker_flow import TakerFlow, TakerFlowConfig

REFUSAL = (
    "strategy taker_flow needs the klines' taker_buy_base_volume column, which "
    "spot_BTCUSDT_1m_2024-03-01_ohlcv-only.csv leaves empty; use data with taker volumes or another strategy"
)


def test_each_strategy_names_what_it_needs() -> None:
    needs = {name: required_kline_fields(name) for name in available_strategies()}
    assert needs == {
        "breakout": frozenset(), "ema_cross": frozenset(), "ml_signal": frozenset(), "rsi_reversion": frozenset(), "sma_cross": frozenset(),
        "taker_flow": frozenset({"taker_buy_base_volume"}),
    }
    with pytest.raises(StrategyConfigError, match="unknown strategy 'nope'"):
        required_kline_fields("nope")


def test_missing_fields_are_read_off_the_bars() -> None:
    assert missing_kline_fields(recorded_klines(OHLCV_ONLY)) == OPTIONAL_KLINE_FIELDS
    assert missing_kline_fields(recorded_klines(BTC_2025)) == ()
    # One bar without the taker columns is enough to lack them.
    bars = list(recorded_klines(BTC_2025)[:50])
    bars[30] = msgspec.structs.replace(bars[30], taker_buy_base_volume=None, taker_buy_quote_volume=None)
    assert missing_kline_fields(bars) == ("taker_buy_base_volume", "taker_buy_quote_volume")


def test_taker_flow_is_refused_on_the_ohlcv_only_file_with_one_clear_line() -> None:
    missing = missing_kline_fields(recorded_klines(OHLCV_ONLY))
    for strategy in ("taker_flow", TakerFlow):
        with pytest.raises(StrategyConfigError) as caught:
            refuse_missing_kline_fields(strategy, missing, OHLCV_ONLY)
        assert str(caught.value) == REFUSAL and "\n" not in str(caught.value)
        assert caught.value.strategy == "taker_flow"
    # Every other strategy runs on prices and volume alone, so the same data is fine for it.
    for name in available_strategies():
        if name != "taker_flow":
            refuse_missing_kline_fields(name, missing, OHLCV_ONLY)
    # Data that has the taker columns (even without trade counts) is fine for taker_flow too.
    refuse_missing_kline_fields("taker_flow", ("trade_count",), "some.csv")
    refuse_missing_kline_fields("taker_flow", (), "spot_BTCUSDT_1m_2025-09-22_2025-09-25.csv")


def test_a_strategy_needing_several_columns_names_them_all() -> None:
    class NeedsTwo(SmaCross):
        required_kline_fields = frozenset({"trade_count", "taker_buy_quote_volume"})

    with pytest.raises(StrategyConfigError) as caught:
        refuse_missing_kline_fields(NeedsTwo, OPTIONAL_KLINE_FIELDS, "x.csv")
    assert str(caught.value) == (
        "strategy sma_cross needs the klines' trade_count and taker_buy_quote_volume columns, which x.csv "
        "leaves empty; use data with trade counts and taker volumes or another strategy"
    )


def test_a_misspelt_requirement_is_refused_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match="taker_buy_volume not among the kline fields that can be missing"):
        class Misspelt(SmaCross):  # defining it is the test
            required_kline_fields = frozenset({"taker_buy_volume"})


def test_at_run_time_a_bar_without_the_taker_column_raises_instead_of_trading() -> None:
    first = recorded_klines(OHLCV_ONLY)[0]
    strategy = load_strategy("taker_flow", "BTCUSDT", {})
    with pytest.raises(ValueError) as caught:
        strategy.on_bar(first)
    assert str(caught.value) == (
        f"strategy taker_flow needs the klines' taker_buy_base_volume, but the BTCUSDT 1m bar at {first.open_time} "
        "has none (its source lacks the column); it will not trade on invented numbers"
    )
    # The refused bar was not counted as seen.
    assert strategy.bars_seen == 0
    # Other strategies take the same bar.
    assert load_strategy("sma_cross", "BTCUSDT", {}).on_bar(first).action is SignalAction.HOLD


def test_a_hole_in_the_taker_column_stops_a_running_strategy() -> None:
    """Real bars with the taker columns blanked on one bar: the strategy acts on the real bars
    before it and raises on the blank one rather than guessing."""
    bars = list(recorded_klines(BTC_2025))
    hole = 2000
    bars[hole] = msgspec.structs.replace(bars[hole], taker_buy_base_volume=None, taker_buy_quote_volume=None)
    strategy = TakerFlow("BTCUSDT", TakerFlowConfig())
    before = [strategy.on_bar(bar) for bar in bars[:hole]]
    assert {signal.action for signal in before} == {SignalAction.HOLD, SignalAction.BUY, SignalAction.SELL}
    with pytest.raises(ValueError, match="needs the klines' taker_buy_base_volume"):
        strategy.on_bar(bars[hole])


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"exit_below": 0.6}, "strategy taker_flow: parameter exit_below: must be less than enter_above (got 0.6 >= 0.55)"),
        ({"enter_above": 0.45}, "strategy taker_flow: parameter exit_below: must be less than enter_above (got 0.45 >= 0.45)"),
        ({"enter_above": 1}, "strategy taker_flow: parameter enter_above: must be less than 1 (got 1)"),
        ({"exit_below": 0}, "strategy taker_flow: parameter exit_below: must be greater than 0 (got 0)"),
        ({"period": 0}, "strategy taker_flow: parameter period: must be at least 1 (got 0)"),
        ({"full_strength_margin": 0}, "strategy taker_flow: parameter full_strength_margin: must be greater than 0 (got 0)"),
        ({"enter_above": "high"}, "strategy taker_flow: parameter enter_above: expected a number (got 'high')"),
        ({"enter": 0.6},
         ("strategy taker_flow: parameter enter: unknown parameter "
          "(allowed: enter_above, exit_below, full_strength_margin, interval, period)")),
    ],
)
def test_bad_parameters_name_the_parameter_and_the_reason(parameters: dict[str, object], message: str) -> None:
    with pytest.raises(StrategyConfigError) as caught:
        load_strategy("taker_flow", "BTCUSDT", parameters)
    assert str(caught.value) == message

