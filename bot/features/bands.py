"""Bollinger bands: a simple moving average with bands a number of population standard
deviations above and below it (TA-Lib's BBANDS with matype 0 and the same factor up and down)."""

from __future__ import annotations

import math
from collections import deque

from bot.features.window import finite, mean, population_std, require_period


class BollingerBands:
    """`middle` = mean of the last `period` inputs, `upper`/`lower` = middle +/- `deviations` *
    their population std; all None until `period` inputs were seen. `value` is the middle band."""

    def __init__(self, period: int = 20, deviations: float = 2.0) -> None:
        self.period = require_period(period)
        if isinstance(deviations, bool) or not isinstance(deviations, int | float) or not math.isfinite(deviations) or deviations <= 0:
            raise ValueError(f"deviations must be a positive number, got {deviations!r}")
        self.deviations = float(deviations)
        self._window: deque[float] = deque(maxlen=self.period)
        self.value: float | None = None
        self.upper: float | None = None
        self.lower: float | None = None

    def update(self, value: float) -> float | None:
        finite((value,))
        self._window.append(value)
        if len(self._window) == self.period:
            middle = mean(self._window)
            width = self.deviations * population_std(self._window)
            self.value, self.upper, self.lower = middle, middle + width, middle - width
        return self.value
