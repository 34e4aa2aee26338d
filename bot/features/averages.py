"""Moving averages of one input series (usually closes)."""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from bot.features.window import finite, mean, require_period


class SimpleMovingAverage:
    """Mean of the last `period` inputs; None until `period` inputs were seen."""

    def __init__(self, period: int) -> None:
        self.period = require_period(period)
        self._window: deque[float] = deque(maxlen=self.period)
        self.value: float | None = None

    def update(self, value: float) -> float | None:
        finite((value,))
        self._window.append(value)
        if len(self._window) == self.period:
            self.value = mean(self._window)
        return self.value


class ExponentialMovingAverage:
    """EMA with alpha = 2 / (period + 1), seeded with the simple mean of the first `period`
    inputs (TA-Lib's convention), so the value does not depend on an arbitrary first input and
    a batch job can reproduce it from the same bars. None until `period` inputs were seen."""

    def __init__(self, period: int) -> None:
        self.period = require_period(period)
        self.alpha = 2.0 / (self.period + 1)
        self._seed: list[float] = []
        self.value: float | None = None

    def update(self, value: float) -> float | None:
        finite((value,))
        if self.value is None:
            self._seed.append(value)
            if len(self._seed) == self.period:
                self.value = mean(self._seed)
                self._seed = []
        else:
            self.value = self.value + self.alpha * (value - self.value)
        return self.value


class ExactMovingSum:
    """Sum of the last `period` Decimal inputs, kept exactly (Decimal adds recorded prices
    without rounding), for comparisons that must not be decided by float noise: two averages of
    real prices are exactly equal more often than one would think (flat minutes)."""

    def __init__(self, period: int) -> None:
        self.period = require_period(period)
        self._window: deque[Decimal] = deque()
        self._sum = Decimal(0)
        self.value: Decimal | None = None

    def update(self, value: Decimal) -> Decimal | None:
        if not value.is_finite():
            raise ValueError(f"feature input must be a finite number, got {value!r}")
        window = self._window
        window.append(value)
        self._sum += value
        if len(window) > self.period:
            self._sum -= window.popleft()
        if len(window) == self.period:
            self.value = self._sum
        return self.value


class MovingAverageConvergenceDivergence:
    """MACD: EMA(fast) - EMA(slow) of closes, its `signal`-period EMA (SMA-seeded over the first
    `signal` MACD values) and the histogram MACD - signal. `value` is the MACD line, `signal_value`
    and `histogram` the other two; each None until it can be computed (MACD after `slow` closes,
    signal and histogram after `slow + signal - 1`).

    TA-Lib seeds the fast EMA later (aligned with the slow one), so the first values differ from
    TA-Lib's; the difference shrinks by (1 - 2/(fast+1)) per bar and is gone long before the
    1,000-bar warm-up the parity tests allow."""

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        if require_period(fast) >= require_period(slow):
            raise ValueError(f"MACD needs a fast period below the slow one, got fast {fast} and slow {slow}")
        self._fast = ExponentialMovingAverage(fast)
        self._slow = ExponentialMovingAverage(slow)
        self._signal = ExponentialMovingAverage(signal)
        self.value: float | None = None
        self.signal_value: float | None = None
        self.histogram: float | None = None

    def update(self, close: float) -> float | None:
        fast = self._fast.update(close)
        slow = self._slow.update(close)
        if fast is not None and slow is not None:
            self.value = fast - slow
            self.signal_value = self._signal.update(self.value)
            if self.signal_value is not None:
                self.histogram = self.value - self.signal_value
        return self.value
