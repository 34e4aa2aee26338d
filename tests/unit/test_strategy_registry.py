"""Loading strategies by name: the list of names, parameter validation that names the strategy,
the parameter and the reason, and refusal of names that are not strategy modules."""

from __future__ import annotations

import pytest
from market_files import BTC_2025, recorded_klines, recorded_trades
from pydantic import ValidationError

from bot.strategy import (
    Strategy,
    StrategyConfigError,
    available_strategies,
    load_strategy,
)
from strategies.sma_cross import SmaCrossConfig


def error_of(name: str, parameters: dict[str, object] | None = None) -> StrategyConfigError:
    with pytest.raises(StrategyConfigError) as caught:
        load_strategy(name, "BTCUSDT", parameters or {})
    return caught.value


def test_available_strategies_are_the_modules_of_the_package() -> None:
    assert available_strategies() == ("breakout", "ema_cross", "ml_signal", "rsi_reversion", "sma_cross", "taker_flow")


@pytest.mark.parametrize("name", ["foo", "", "../bot", "os", "strategies.sma_cross", "sma_cross.py", "SMA_CROSS", "__init__"])
def test_an_unknown_name_lists_the_available_ones(name: str) -> None:
    assert str(error_of(name)) == f"unknown strategy {name!r} (available: breakout, ema_cross, ml_signal, rsi_reversion, sma_cross, taker_flow)"


@pytest.mark.parametrize(
    ("name", "parameters", "message"),
    [
        ("sma_cross", {"fast_period": 50, "slow_period": 20},
         "strategy sma_cross: parameter fast_period: must be less than slow_period (got 50 >= 20)"),
        ("ema_cross", {"fast_period": 26},
         "strategy ema_cross: parameter fast_period: must be less than slow_period (got 26 >= 26)"),
        ("sma_cross", {"fast": 3},
         ("strategy sma_cross: parameter fast: unknown parameter "
         "(allowed: fast_period, full_strength_spread, interval, slow_period)")),
        ("sma_cross", {"fast_period": "ten"}, "strategy sma_cross: parameter fast_period: expected a whole number (got 'ten')"),
        ("sma_cross", {"fast_period": 0}, "strategy sma_cross: parameter fast_period: must be at least 1 (got 0)"),
        ("rsi_reversion", {"oversold": 75}, "strategy rsi_reversion: parameter oversold: must be less than overbought (got 75 >= 70)"),
        ("rsi_reversion", {"overbought": 100}, "strategy rsi_reversion: parameter overbought: must be less than 100 (got 100)"),
        ("breakout", {"atr_multiplier": float("nan")}, "strategy breakout: parameter atr_multiplier: expected a finite number (got nan)"),
        ("breakout", {"interval": "1w"},
         ("strategy breakout: parameter interval: expected a bar interval: a count and a unit s, m, h or d "
         "(e.g. '1s', '5s', '1m', '4h'), got '1w'")),
        ("breakout", {"lookback": 0, "atr_period": -1},
         ("strategy breakout: parameter lookback: must be at least 1 (got 0); "
         "strategy breakout: parameter atr_period: must be at least 1 (got -1)")),
    ],
)
def test_bad_parameters_name_strategy_parameter_and_reason(name: str, parameters: dict[str, object], message: str) -> None:
    error = error_of(name, parameters)
    assert str(error) == message
    assert error.strategy == name and error.problems[0][0] in message


def test_an_empty_symbol_is_refused() -> None:
    with pytest.raises(StrategyConfigError, match="parameter symbol: must be a symbol"):
        load_strategy("sma_cross", "", {})


def test_a_loaded_strategy_has_its_defaults_and_follows_the_protocol() -> None:
    defaults = {
        "sma_cross": ("1m", 30), "ema_cross": ("1m", 26), "rsi_reversion": ("1m", 15), "breakout": ("1m", 20),
        "taker_flow": ("1m", 20),
    }
    for name, (interval, warmup) in defaults.items():
        strategy = load_strategy(name, "BTCUSDT", None)
        assert isinstance(strategy, Strategy)
        assert (strategy.name, strategy.symbol, strategy.interval, strategy.warmup_bars) == (name, "BTCUSDT", interval, warmup)
        assert strategy.on_trade(recorded_trades()[0]) is None
    custom = load_strategy("sma_cross", "ETHUSDT", {"fast_period": 5, "slow_period": 8, "interval": "5s"})
    assert (custom.interval, custom.warmup_bars) == ("5s", 8)


def test_configs_are_frozen_and_validated_alone_too() -> None:
    config = SmaCrossConfig()
    with pytest.raises(ValidationError):
        config.fast_period = 3  # type: ignore[misc]
    with pytest.raises(ValidationError):
        SmaCrossConfig(slow_period=1)


def test_warm_up_is_exactly_long_enough_on_real_bars() -> None:
    """After warmup_bars bars every indicator a strategy uses has a value, and not one bar before:
    the reason of the last warm-up HOLD says so."""
    bars = recorded_klines(BTC_2025)
    for name in available_strategies():
        strategy = load_strategy(name, "BTCUSDT", {})
        reasons = [strategy.on_bar(bar).reason for bar in bars[: strategy.warmup_bars + 1]]
        warming = [reason.startswith("warming up") for reason in reasons]
        if name in ("sma_cross", "ema_cross", "rsi_reversion", "taker_flow"):
            # The bar that completes the slow average (RSI, ratio) fixes the side; it is not warm-up.
            assert warming == [True] * (strategy.warmup_bars - 1) + [False, False], name
        else:
            assert warming == [True] * strategy.warmup_bars + [False], name
