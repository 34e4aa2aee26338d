"""The batch reference: the spec's features over a whole list of bars, written from the
definitions (slices of arrays), not from the incremental calculators, so a test comparing the two
checks the calculators' state handling. spark_batch re-implements the same definitions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.domain.events import Kline
from bot.features.rolling import log_return, taker_buy_share, zscore
from bot.features.spec import (
    FEATURE_SPEC,
    BarInputs,
    FeatureDefinition,
    FeatureKind,
    FeatureSpec,
)
from bot.features.wilder import rsi_from_averages, true_range
from bot.features.window import mean, sample_std

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


def _rsi(closes: Sequence[float], period: int) -> Series:
    changes = [closes[index] - closes[index - 1] for index in range(1, len(closes))]
    gains = _wilder([max(change, 0.0) for change in changes], period)
    losses = _wilder([max(-change, 0.0) for change in changes], period)
    rsi = [None if gain is None or loss is None else rsi_from_averages(gain, loss) for gain, loss in zip(gains, losses)]
    return [None, *rsi] if closes else []


def _feature(definition: FeatureDefinition, bars: Sequence[BarInputs]) -> Series:
    closes = [bar.close for bar in bars]
    kind, period = definition.kind, definition.period or 0
    if kind is FeatureKind.LOG_RETURN:
        return [None if index == 0 else log_return(closes[index], closes[index - 1]) for index in range(len(closes))]
    if kind is FeatureKind.SMA:
        return _window_series(closes, period, mean)
    if kind is FeatureKind.EMA:
        return _smoothed(closes, period, 2.0 / (period + 1))
    if kind is FeatureKind.RSI:
        return _rsi(closes, period)
    if kind is FeatureKind.ATR:
        ranges = [true_range(bar.high, bar.low, None if index == 0 else bars[index - 1].close) for index, bar in enumerate(bars)]
        return _wilder(ranges, period)
    if kind is FeatureKind.HIGHEST_HIGH:
        return _window_series([bar.high for bar in bars], period, max)
    if kind is FeatureKind.LOWEST_LOW:
        return _window_series([bar.low for bar in bars], period, min)
    if kind is FeatureKind.VOLATILITY:
        returns = [log_return(closes[index], closes[index - 1]) for index in range(1, len(closes))]
        return [None, *_window_series(returns, period, sample_std)] if closes else []
    if kind is FeatureKind.VOLUME_ZSCORE:
        volumes = [bar.volume for bar in bars]
        return _window_series(volumes, period, lambda window: zscore(window[-1], list(window)))
    if kind is FeatureKind.TAKER_BUY_RATIO:
        return _taker_buy_ratio(bars, period)
    raise ValueError(f"feature {definition.name}: unknown kind {kind!r}")


def _taker_buy_ratio(bars: Sequence[BarInputs], period: int) -> Series:
    """The mean share over each full window; a window holding a bar without taker data has none."""
    shares = [
        None if bar.taker_buy_base_volume is None else taker_buy_share(bar.taker_buy_base_volume, bar.volume)
        for bar in bars
    ]
    series: Series = []
    for end in range(1, len(shares) + 1):
        window = shares[max(0, end - period):end]
        known = [share for share in window if share is not None]
        series.append(mean(known) if end >= period and len(known) == period else None)
    return series


def compute_features_batch(bars: Sequence[Kline], spec: FeatureSpec = FEATURE_SPEC) -> list[dict[str, float | None]]:
    """One dict per bar, the same as `FeatureSet.update` returns after that bar."""
    inputs = [BarInputs.of(bar) for bar in bars]
    columns = {definition.name: _feature(definition, inputs) for definition in spec.definitions}
    return [{name: column[index] for name, column in columns.items()} for index in range(len(bars))]
