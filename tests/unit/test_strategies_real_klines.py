"""Each strategy over real 1m klines, its signals checked against an independent pandas
reference computed here (rolling means, seeded EWMs, sign changes), and run twice for
determinism."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pandas as pd
import pytest
from market_files import BTC_2020, BTC_2025, ETH_2025, recorded_klines
from pandas_reference import (
    bars_frame,
    crossings,
    remembered_side,
    seeded_ewm,
    wilder_atr,
    wilder_rsi,
)

from bot.domain.trading import Signal, SignalAction
from bot.strategy import load_strategy

FILES = [BTC_2025, BTC_2020, ETH_2025]


def run(name: str, file_name: str, parameters: dict[str, object]) -> list[Signal]:
    bars = recorded_klines(file_name)
    strategy = load_strategy(name, bars[0].symbol, parameters)
    signals = [strategy.on_bar(bar) for bar in bars]
    for bar, signal in zip(bars, signals):
        assert signal.trigger == f"kline_1m:{bar.open_time}" and signal.ts_event == bar.close_time
        assert 0.0 <= signal.strength <= 1.0 and signal.symbol == bar.symbol and signal.strategy == name
        assert signal.action is not SignalAction.HOLD or signal.strength == 0.0
    # No decision before the warm-up is over.
    assert all(signal.action is SignalAction.HOLD for signal in signals[: strategy.warmup_bars])
    return signals


def actions(signals: list[Signal]) -> dict[int, SignalAction]:
    return {index: signal.action for index, signal in enumerate(signals) if signal.action is not SignalAction.HOLD}


def expected_actions(turns: pd.Series) -> dict[int, SignalAction]:
    return {int(index): SignalAction.BUY if turn > 0 else SignalAction.SELL for index, turn in turns[turns != 0].items()}


def assert_both_directions(found: dict[int, SignalAction]) -> None:
    assert SignalAction.BUY in found.values() and SignalAction.SELL in found.values()


@pytest.mark.parametrize("file_name", FILES)
@pytest.mark.parametrize(("name", "fast", "slow"), [("sma_cross", 10, 30), ("sma_cross", 5, 50), ("ema_cross", 12, 26)])
def test_moving_average_crosses_match_pandas(file_name: str, name: str, fast: int, slow: int) -> None:
    signals = run(name, file_name, {"fast_period": fast, "slow_period": slow})
    close = bars_frame(recorded_klines(file_name)).close
    if name == "sma_cross":
        fast_average, slow_average = close.rolling(fast).mean(), close.rolling(slow).mean()
    else:
        fast_average, slow_average = seeded_ewm(close, fast, 2 / (fast + 1)), seeded_ewm(close, slow, 2 / (slow + 1))
    turns = crossings(fast_average - slow_average)
    found = actions(signals)
    assert found == expected_actions(turns)
    assert_both_directions(found)
    for index in found:
        spread = abs(fast_average[index] - slow_average[index]) / slow_average[index] / 0.001
        assert signals[index].strength == pytest.approx(min(1.0, spread), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("file_name", FILES)
@pytest.mark.parametrize(("period", "oversold", "overbought"), [(14, 30.0, 70.0), (7, 20.0, 80.0)])
def test_rsi_reversion_matches_pandas(file_name: str, period: int, oversold: float, overbought: float) -> None:
    signals = run("rsi_reversion", file_name, {"period": period, "oversold": oversold, "overbought": overbought})
    rsi = wilder_rsi(bars_frame(recorded_klines(file_name)).close, period)
    up = crossings(rsi - oversold) > 0
    down = crossings(rsi - overbought) < 0
    expected = {int(i): SignalAction.BUY for i in up[up].index} | {int(i): SignalAction.SELL for i in down[down].index}
    found = actions(signals)
    assert found == expected
    assert_both_directions(found)
    # Strength: depth of the excursion beyond the level that just ended.
    below, above = remembered_side(rsi - oversold) < 0, remembered_side(rsi - overbought) > 0
    for index, action in found.items():
        run_start = index - 1
        inside = below if action is SignalAction.BUY else above
        while run_start > 0 and inside[run_start - 1]:
            run_start -= 1
        excursion = rsi[run_start:index]
        if action is SignalAction.BUY:
            strength = (oversold - excursion.min()) / oversold
        else:
            strength = (excursion.max() - overbought) / (100 - overbought)
        assert signals[index].strength == pytest.approx(strength, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("file_name", FILES)
@pytest.mark.parametrize(("lookback", "atr_period", "multiplier"), [(20, 14, 2.0), (60, 30, 1.5)])
def test_breakout_matches_pandas(file_name: str, lookback: int, atr_period: int, multiplier: float) -> None:
    bars = recorded_klines(file_name)
    signals = run("breakout", file_name, {"lookback": lookback, "atr_period": atr_period, "atr_multiplier": multiplier})
    frame = bars_frame(bars)
    previous_high = frame.high.rolling(lookback).max().shift(1)
    previous_low = frame.low.rolling(lookback).min().shift(1)
    atr = wilder_atr(frame, atr_period)
    ready = previous_high.notna() & atr.notna()
    buys = ready & (frame.close > previous_high)
    sells = ready & (frame.close < previous_low)
    expected = {int(i): SignalAction.BUY for i in buys[buys].index} | {int(i): SignalAction.SELL for i in sells[sells].index}
    found = actions(signals)
    assert found == expected
    assert_both_directions(found)
    for index, action in found.items():
        signal, bar = signals[index], bars[index]
        distance = frame.close[index] - previous_high[index] if action is SignalAction.BUY else previous_low[index] - frame.close[index]
        assert signal.strength == pytest.approx(min(1.0, distance / atr[index]), rel=1e-6, abs=1e-9)
        if action is SignalAction.SELL:
            assert signal.stop_price is None
            continue
        stop = signal.stop_price
        assert isinstance(stop, Decimal)
        decimals = max(-int(price.as_tuple().exponent) for price in (bar.open, bar.high, bar.low, bar.close))
        assert -int(stop.as_tuple().exponent) == decimals
        exact_stop = frame.close[index] - multiplier * atr[index]
        # Rounded down to the bar's precision: at most one step below the exact stop, never above.
        assert exact_stop - 10.0**-decimals - 1e-6 < float(stop) <= exact_stop + 1e-6


@pytest.mark.parametrize("file_name", FILES)
@pytest.mark.parametrize(
    ("period", "enter_above", "exit_below", "margin"), [(20, 0.55, 0.45, 0.05), (10, 0.6, 0.4, 0.1), (60, 0.52, 0.5, 0.02)]
)
def test_taker_flow_matches_pandas(file_name: str, period: int, enter_above: float, exit_below: float, margin: float) -> None:
    parameters = {"period": period, "enter_above": enter_above, "exit_below": exit_below, "full_strength_margin": margin}
    signals = run("taker_flow", file_name, parameters)
    bars = recorded_klines(file_name)
    volume = pd.Series([float(bar.volume) for bar in bars])
    taker = pd.Series([float(bar.taker_buy_base_volume) for bar in bars])
    ratio = (taker / volume).where(volume != 0, 0.5).rolling(period).mean()
    up = crossings(ratio - enter_above) > 0
    down = crossings(ratio - exit_below) < 0
    expected = {int(i): SignalAction.BUY for i in up[up].index} | {int(i): SignalAction.SELL for i in down[down].index}
    found = actions(signals)
    assert found == expected
    assert_both_directions(found)
    for index, action in found.items():
        past = ratio[index] - enter_above if action is SignalAction.BUY else exit_below - ratio[index]
        assert past > 0
        assert signals[index].strength == pytest.approx(min(1.0, past / margin), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(
    ("name", "parameters"),
    [("sma_cross", {}), ("ema_cross", {}), ("rsi_reversion", {}), ("breakout", {}), ("taker_flow", {})],
)
def test_two_runs_are_byte_identical(name: str, parameters: dict[str, object]) -> None:
    first = msgspec.json.encode(run(name, BTC_2025, parameters))
    second = msgspec.json.encode(run(name, BTC_2025, parameters))
    assert first == second and len(first) > 0


def test_the_signal_counts_are_plausible_for_a_day_of_minutes() -> None:
    """A guard against a reference and a strategy that agree on nothing happening."""
    names = ("sma_cross", "ema_cross", "rsi_reversion", "breakout", "taker_flow")
    counts = {name: len(actions(run(name, BTC_2020, {}))) for name in names}
    assert all(10 < count < 1441 // 4 for count in counts.values()), counts
