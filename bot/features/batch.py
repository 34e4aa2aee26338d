"""The batch reference: the spec's features over a whole list of bars, written from the
definitions (slices of arrays), not from the incremental calculators, so a test comparing the two
checks the calculators' state handling. spark_batch re-implements the same definitions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.domain.events import Kline
from bot.features.rolling import log_return, zscore
from bot.features.spec import (
    FEATURE_SPEC,
    PER_BAR_KINDS,
    BarInputs,
    FeatureDefinition,
    FeatureKind,
    FeatureSpec,
    bar_feature,
    require_parameters,
)
from bot.features.wilder import rsi_from_averages, true_range
from bot.features.window import mean, population_std

Series = list[float | None]


def _window_series(values: Sequence[float], period: int, reduce: Callable[[Sequence[float]], float]) -> Series:
    return [None if end < period else reduce(values[end - period:end]) for end in range(1, len(values) + 1)]


def _smoothed(values: Sequence[float], period: int, alpha: float) -> Series:
    """EMA-style recursion seeded with the mean of the first `period` values."""
    series: Series = [None] * len(values)
    if len(values) < period:
        return series
    current = mean(values[:period])
    series[period - 1] = current
    for index in range(period, len(values)):
        current = current + alpha * (values[index] - current)
        series[index] = current
    return series


def _ema(values: Sequence[float], period: int) -> Series:
    return _smoothed(values, period, 2.0 / (period + 1))


def _wilder(values: Sequence[float], period: int) -> Series:
    series: Series = [None] * len(values)
    if len(values) < period:
        return series
    current = mean(values[:period])
    series[period - 1] = current
    for index in range(period, len(values)):
        current = (current * (period - 1) + values[index]) / period
        series[index] = current
    return series


def _shifted(series: Series, count: int) -> Series:
    """`series` computed over values[count:], placed back on the bars' positions."""
    return [None] * count + series


def _rsi(closes: Sequence[float], period: int) -> Series:
    changes = [closes[index] - closes[index - 1] for index in range(1, len(closes))]
    gains = _wilder([max(change, 0.0) for change in changes], period)
    losses = _wilder([max(-change, 0.0) for change in changes], period)
    rsi = [None if gain is None or loss is None else rsi_from_averages(gain, loss) for gain, loss in zip(gains, losses)]
    return _shifted(rsi, 1) if closes else []


def _macd(closes: Sequence[float], definition: FeatureDefinition) -> Series:
    assert definition.fast is not None and definition.slow is not None and definition.signal is not None
    fast, slow = _ema(closes, definition.fast), _ema(closes, definition.slow)
    line = [None if f is None or s is None else f - s for f, s in zip(fast, slow)]
    if definition.output == "macd":
        return line
    known = [value for value in line if value is not None]  # the line exists from bar `slow` on
    signal = _shifted(_ema(known, definition.signal), len(line) - len(known))
    if definition.output == "signal":
        return signal
    return [None if value is None or average is None else value - average for value, average in zip(line, signal)]


def _bollinger(closes: Sequence[float], definition: FeatureDefinition) -> Series:
    assert definition.period is not None and definition.deviations is not None
    deviations = definition.deviations
    if definition.output == "middle":
        return _window_series(closes, definition.period, mean)
    sign = 1.0 if definition.output == "upper" else -1.0
    return _window_series(closes, definition.period, lambda window: mean(window) + sign * (deviations * population_std(window)))


def _feature(definition: FeatureDefinition, bars: Sequence[BarInputs]) -> Series:
    require_parameters(definition)
    closes = [bar.close for bar in bars]
    kind, period = definition.kind, definition.period or 0
    if kind in PER_BAR_KINDS:
        return [bar_feature(kind, bar) for bar in bars]
    if kind is FeatureKind.RETURN:
        return [None if index < period else closes[index] / closes[index - period] - 1.0 for index in range(len(closes))]
    if kind is FeatureKind.LOG_RETURN:
        return [None if index == 0 else log_return(closes[index], closes[index - 1]) for index in range(len(closes))]
    if kind is FeatureKind.SMA:
        return _window_series(closes, period, mean)
    if kind is FeatureKind.EMA:
        return _ema(closes, period)
    if kind is FeatureKind.MACD:
        return _macd(closes, definition)
    if kind is FeatureKind.RSI:
        return _rsi(closes, period)
    if kind is FeatureKind.ATR:
        ranges = [true_range(bar.high, bar.low, None if index == 0 else bars[index - 1].close) for index, bar in enumerate(bars)]
        return _wilder(ranges, period)
    if kind is FeatureKind.BOLLINGER:
        return _bollinger(closes, definition)
    if kind is FeatureKind.VOLATILITY:
        returns = [log_return(closes[index], closes[index - 1]) for index in range(1, len(closes))]
        return _shifted(_window_series(returns, period, population_std), 1) if closes else []
    if kind is FeatureKind.VOLUME_ZSCORE:
        volumes = [bar.volume for bar in bars]
        return _window_series(volumes, period, lambda window: zscore(window[-1], list(window)))
    raise ValueError(f"feature {definition.name}: unknown kind {kind!r}")


def compute_features_batch(bars: Sequence[Kline], spec: FeatureSpec = FEATURE_SPEC) -> list[dict[str, float | None]]:
    """One dict per bar, the same as `FeatureSet.update` returns after that bar."""
    inputs = [BarInputs.of(bar) for bar in bars]
    columns = {definition.name: _feature(definition, inputs) for definition in spec.definitions}
    return [{name: column[index] for name, column in columns.items()} for index in range(len(bars))]
