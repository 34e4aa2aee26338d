"""Rolling-window features: extremes, returns, volatility, volume surprise and order flow."""

from __future__ import annotations

import math
from collections import deque

from bot.features.window import finite, mean, population_std, require_period


class HighestHigh:
    """Highest input over the last `period` bars, the current one included. A strategy that
    wants the high *before* the current bar reads `value` before calling `update`."""

    def __init__(self, period: int) -> None:
        self.period = require_period(period)
        self._window: deque[float] = deque(maxlen=self.period)
        self.value: float | None = None

    def update(self, high: float) -> float | None:
        finite((high,))
        self._window.append(high)
        if len(self._window) == self.period:
            self.value = max(self._window)
        return self.value


class LowestLow:
    """Lowest input over the last `period` bars, the current one included."""

    def __init__(self, period: int) -> None:
        self.period = require_period(period)
        self._window: deque[float] = deque(maxlen=self.period)
        self.value: float | None = None

    def update(self, low: float) -> float | None:
        finite((low,))
        self._window.append(low)
        if len(self._window) == self.period:
            self.value = min(self._window)
        return self.value


def log_return(close: float, previous_close: float) -> float:
    if close <= 0.0 or previous_close <= 0.0:
        raise ValueError(f"log return needs positive prices, got {previous_close!r} -> {close!r}")
    return math.log(close / previous_close)


class LogReturn:
    """ln(close / previous close); None for the first bar."""

    def __init__(self) -> None:
        self._previous: float | None = None
        self.value: float | None = None

    def update(self, close: float) -> float | None:
        finite((close,))
        if self._previous is not None:
            self.value = log_return(close, self._previous)
        self._previous = close
        return self.value


class PeriodReturn:
    """close / close `period` bars ago - 1 (TA-Lib's ROCR - 1, computed the same way: the ratio
    first, then minus one); None until `period + 1` closes were seen."""

    def __init__(self, period: int) -> None:
        self.period = require_period(period)
        self._closes: deque[float] = deque(maxlen=self.period + 1)
        self.value: float | None = None

    def update(self, close: float) -> float | None:
        finite((close,))
        if close <= 0.0:
            raise ValueError(f"a return needs positive prices, got {close!r}")
        self._closes.append(close)
        if len(self._closes) > self.period:
            self.value = close / self._closes[0] - 1.0
        return self.value


class RollingVolatility:
    """Population standard deviation (ddof=0, TA-Lib's STDDEV) of the last `period` log returns,
    per bar (not annualised). Needs `period + 1` closes."""

    def __init__(self, period: int = 20) -> None:
        self.period = require_period(period, minimum=2)
        self._returns = LogReturn()
        self._window: deque[float] = deque(maxlen=self.period)
        self.value: float | None = None

    def update(self, close: float) -> float | None:
        change = self._returns.update(close)
        if change is not None:
            self._window.append(change)
            if len(self._window) == self.period:
                self.value = population_std(self._window)
        return self.value


def zscore(value: float, window: deque[float] | list[float]) -> float:
    """How many population standard deviations `value` lies from the window's mean; 0 when the
    window does not vary (a flat market is not a surprise)."""
    spread = population_std(window)
    return 0.0 if spread == 0.0 else (value - mean(window)) / spread


class VolumeZScore:
    """Z-score of the current bar's volume against the last `period` volumes, the current one
    included, with the population std (pandas' `(v - v.rolling(n).mean()) / v.rolling(n).std(ddof=0)`)."""

    def __init__(self, period: int = 20) -> None:
        self.period = require_period(period, minimum=2)
        self._window: deque[float] = deque(maxlen=self.period)
        self.value: float | None = None

    def update(self, volume: float) -> float | None:
        finite((volume,))
        self._window.append(volume)
        if len(self._window) == self.period:
            self.value = zscore(volume, self._window)
        return self.value


NEUTRAL_TAKER_SHARE = 0.5
"""The taker-buy share of a bar with no volume: nobody bought or sold aggressively, so it counts
as balanced flow rather than as all selling (0) or being skipped (which would let the window
silently span more time than `period` bars)."""


def taker_buy_share(taker_buy_base_volume: float, volume: float) -> float:
    """The share of a bar's base volume that takers bought (aggressive buying), in [0, 1]."""
    finite((taker_buy_base_volume, volume))
    if taker_buy_base_volume < 0.0 or taker_buy_base_volume > volume:
        raise ValueError(f"taker buy volume must lie between 0 and the volume {volume!r}, got {taker_buy_base_volume!r}")
    return NEUTRAL_TAKER_SHARE if volume == 0.0 else taker_buy_base_volume / volume


class TakerBuyRatio:
    """Mean taker-buy share (`taker_buy_share`) of the last `period` bars, the current one included.

    A bar without taker data (None: its source had no such column) makes the value unknown, and
    it stays unknown until `period` consecutive bars with data have been seen again: a mean over
    a window with a hole would describe a different span of time than its neighbours."""

    def __init__(self, period: int = 20) -> None:
        self.period = require_period(period)
        self._window: deque[float] = deque(maxlen=self.period)
        self.value: float | None = None

    def update(self, taker_buy_base_volume: float | None, volume: float) -> float | None:
        if taker_buy_base_volume is None:
            self._window.clear()
            self.value = None
            return None
        self._window.append(taker_buy_share(taker_buy_base_volume, volume))
        if len(self._window) == self.period:
            self.value = mean(self._window)
        return self.value
