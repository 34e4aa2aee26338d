"""CONSTRUCTED price paths (not market data) with hand-worked outcomes: cases that must signal,
cases that must not, and the base class's handling of wrong or repeated bars."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from market_files import constructed_bars

from bot.domain.trading import Signal, SignalAction
from bot.strategy import load_strategy

BUY, SELL, HOLD = SignalAction.BUY, SignalAction.SELL, SignalAction.HOLD


def feed(name: str, parameters: dict[str, object], closes: list[str], spreads: list[str] | None = None) -> list[Signal]:
    strategy = load_strategy(name, "TESTUSDT", parameters)
    return [strategy.on_bar(bar) for bar in constructed_bars(closes, spreads=spreads)]


def test_sma_cross_golden_then_death_cross() -> None:
    # SMA2 / SMA3 worked by hand: the difference is -0.5, -0.5, -0.17, +0.5, +0.5, +0.17, -0.5
    # from bar 2 on, so BUY on bar 5 and SELL on bar 8.
    signals = feed("sma_cross", {"fast_period": 2, "slow_period": 3}, ["10", "9", "8", "7", "8", "9", "10", "9", "8"])
    assert [signal.action for signal in signals] == [HOLD] * 5 + [BUY, HOLD, HOLD, SELL]
    assert signals[5].strength == 1.0  # averages 0.5/8 = 6% apart, far beyond 0.1%
    assert signals[5].reason == "golden cross: SMA(2)=8.5, SMA(3)=8"
    assert signals[0].reason == "warming up (1/3 bars)"


def test_a_touch_counts_as_neither_above_nor_below() -> None:
    """The README's rule: up on fast[t] > slow[t] and fast[t-1] <= slow[t-1], down on the mirror
    image. Leaving a touch is therefore a cross, whichever side it leaves to (constructed closes)."""
    # fast=1 (the close), slow=2: the difference is (close - previous close) / 2.
    closes = ["10", "9", "9", "8", "8", "9", "9", "10"]  # -, below, touch, below, touch, above, touch, above
    signals = feed("sma_cross", {"fast_period": 1, "slow_period": 2}, closes)
    assert [signal.action for signal in signals] == [HOLD] * 3 + [SELL, HOLD, BUY, HOLD, BUY]


def test_a_flat_market_and_a_steady_trend_never_cross() -> None:
    for closes in (["100"] * 40, [str(100 + index) for index in range(40)]):
        for name in ("sma_cross", "ema_cross", "rsi_reversion", "breakout"):
            actions = {signal.action for signal in feed(name, {}, closes)}
            # A steady rise keeps breaking out (that is what a breakout is); nothing else acts.
            if name == "breakout" and closes[0] != closes[1]:
                assert actions == {HOLD, BUY}
            else:
                assert actions == {HOLD}, (name, closes[:3])


def test_ema_cross_signals_once_per_turn() -> None:
    closes = [str(price) for price in [*range(130, 100, -1), *range(100, 130), *range(130, 100, -1)]]
    actions = [signal.action for signal in feed("ema_cross", {"fast_period": 3, "slow_period": 6}, closes)]
    assert [action for action in actions if action is not HOLD] == [BUY, SELL]
    assert actions.index(BUY) > 30 and actions.index(SELL) > 60


def test_rsi_reversion_buys_the_turn_from_oversold_and_sells_the_turn_from_overbought() -> None:
    # RSI(2): changes -1, -1, -1 -> 0 (oversold); +2 -> 66.7 (BUY, from a low of 0: strength 1);
    # +3 -> 88.9 (overbought); -1 -> 61.5 (SELL, strength (88.9 - 70) / 30).
    signals = feed("rsi_reversion", {"period": 2}, ["10", "9", "8", "7", "9", "12", "11"])
    assert [signal.action for signal in signals] == [HOLD] * 4 + [BUY, HOLD, SELL]
    assert signals[4].strength == 1.0
    assert signals[6].strength == pytest.approx((800 / 9 - 70) / 30)


def test_rsi_that_stays_oversold_does_not_signal() -> None:
    # RSI(2): 0, then bounces to 9.1, 3.0, 13.5, 4.0: never back up to 30.
    closes = ["10", "9", "8", "7", "7.1", "6", "6.1", "5"]
    assert {signal.action for signal in feed("rsi_reversion", {"period": 2, "oversold": 30}, closes)} == {HOLD}


def test_breakout_with_an_atr_stop_worked_by_hand() -> None:
    # True ranges 0, 1, 1, 1, 4: ATR(2) is 0.5, 0.75, 0.875, then (0.875 + 4) / 2 = 2.4375 on the
    # breaking bar; the 3-bar high before it is 101. Stop: 105 - 2 * 2.4375 = 100.125 -> 100.12.
    closes = ["100.00", "101.00", "100.00", "101.00", "105.00", "99.00"]
    signals = feed("breakout", {"lookback": 3, "atr_period": 2, "atr_multiplier": 2.0}, closes)
    assert [signal.action for signal in signals] == [HOLD] * 4 + [BUY, SELL]
    assert signals[4].stop_price == Decimal("100.12")
    assert signals[4].strength == 1.0  # a break of 4 is more than one ATR
    assert signals[5].stop_price is None  # the 3-bar low before it is 100; 99 breaks it


def test_a_close_equal_to_the_previous_high_is_not_a_breakout() -> None:
    signals = feed("breakout", {"lookback": 2, "atr_period": 2}, ["100", "101", "100", "101"])
    assert {signal.action for signal in signals} == {HOLD}


def test_a_stop_that_would_not_be_positive_is_left_out() -> None:
    closes = ["1.0", "1.0", "1.0", "1.5"]
    signals = feed("breakout", {"lookback": 2, "atr_period": 2, "atr_multiplier": 100.0}, closes, spreads=["0", "0", "0", "0.4"])
    assert signals[3].action is BUY and signals[3].stop_price is None


def test_a_repeated_bar_is_answered_with_hold_and_changes_nothing() -> None:
    bars = constructed_bars(["10", "9", "8", "7", "8", "9", "10", "9", "8"])
    plain = load_strategy("sma_cross", "TESTUSDT", {"fast_period": 2, "slow_period": 3})
    repeated = load_strategy("sma_cross", "TESTUSDT", {"fast_period": 2, "slow_period": 3})
    expected = [plain.on_bar(bar) for bar in bars]
    got = []
    for index, bar in enumerate(bars):
        got.append(repeated.on_bar(bar))
        again = repeated.on_bar(bars[index - 1] if index else bar)
        assert again.action is HOLD and again.reason.startswith("bar already seen")
    assert msgspec.json.encode(got) == msgspec.json.encode(expected)


def test_bars_of_another_symbol_or_interval_or_still_open_are_refused() -> None:
    strategy = load_strategy("breakout", "TESTUSDT", {"interval": "5m"})
    bar = constructed_bars(["1"], interval="5m")[0]
    with pytest.raises(ValueError, match="got a TESTUSDT 1m bar"):
        strategy.on_bar(msgspec.structs.replace(bar, interval="1m"))
    with pytest.raises(ValueError, match="got a OTHERUSDT 5m bar"):
        strategy.on_bar(msgspec.structs.replace(bar, symbol="OTHERUSDT"))
    with pytest.raises(ValueError, match="open 5m bar"):
        strategy.on_bar(msgspec.structs.replace(bar, is_closed=False))
    assert strategy.on_bar(bar).trigger == f"kline_5m:{bar.open_time}"
