"""Welles Wilder's smoothed indicators: RSI and ATR.

Wilder's smoothing is an EMA with alpha = 1 / period, seeded with the simple mean of the first
`period` inputs: avg = (avg * (period - 1) + x) / period.
"""

from __future__ import annotations

from bot.features.window import finite, mean, require_period


class WilderAverage:
    def __init__(self, period: int) -> None:
        self.period = require_period(period)
        self._seed: list[float] = []
        self.value: float | None = None

    def update(self, value: float) -> float | None:
        if self.value is None:
            self._seed.append(value)
            if len(self._seed) == self.period:
                self.value = mean(self._seed)
                self._seed = []
        else:
            self.value = (self.value * (self.period - 1) + value) / self.period
        return self.value


def rsi_from_averages(average_gain: float, average_loss: float) -> float:
    """RSI in [0, 100]. A window with no losses is 100, one with no movement at all is 50
    (neither overbought nor oversold), rather than a division by zero."""
    if average_loss == 0.0:
        return 50.0 if average_gain == 0.0 else 100.0
    return 100.0 - 100.0 / (1.0 + average_gain / average_loss)


class RelativeStrengthIndex:
    """Wilder's RSI of closes. Needs `period` changes, i.e. `period + 1` closes, before it has a
    value."""

    def __init__(self, period: int = 14) -> None:
        self.period = require_period(period)
        self._gains = WilderAverage(self.period)
        self._losses = WilderAverage(self.period)
        self._previous: float | None = None
        self.value: float | None = None

    def update(self, close: float) -> float | None:
        finite((close,))
        if self._previous is not None:
            change = close - self._previous
            gain = self._gains.update(max(change, 0.0))
            loss = self._losses.update(max(-change, 0.0))
            if gain is not None and loss is not None:
                self.value = rsi_from_averages(gain, loss)
        self._previous = close
        return self.value


def true_range(high: float, low: float, previous_close: float | None) -> float:
    """The bar's range widened to include a gap from the previous close. The first bar has no
    previous close, so its true range is just high - low."""
    if previous_close is None:
        return high - low
    return max(high - low, abs(high - previous_close), abs(low - previous_close))


class AverageTrueRange:
    """Wilder's ATR; the first value is the mean of the first `period` true ranges (the very
    first bar's being high - low), so it is ready after `period` bars."""

    def __init__(self, period: int = 14) -> None:
        self.period = require_period(period)
        self._average = WilderAverage(self.period)
        self._previous_close: float | None = None
        self.value: float | None = None

    def update(self, high: float, low: float, close: float) -> float | None:
        finite((high, low, close))
        if high < low:
            raise ValueError(f"bar high {high!r} is below its low {low!r}")
        self.value = self._average.update(true_range(high, low, self._previous_close))
        self._previous_close = close
        return self.value
