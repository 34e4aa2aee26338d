"""sma_cross: BUY on a golden cross of the fast and slow simple moving averages of closes, SELL on
a death cross. Strength: how far apart the averages are on the crossing bar (see
bot.strategy.moving_average_cross).

The averages are compared exactly: the sums of the recorded Decimal closes, cross-multiplied by
the other period (fast_sum x slow_period vs slow_sum x fast_period), so a bar where the two
averages are equal is a tie and not whatever float rounding makes of it. Real data has such bars
(FILUSDT 1m, 2023-08..11: ~130 with SMA 20/60), and the README's rule treats them exactly."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from bot.features.averages import ExactMovingSum
from bot.strategy.moving_average_cross import (
    MovingAverageCross,
    MovingAverageCrossConfig,
)


class SmaCrossConfig(MovingAverageCrossConfig):
    """fast_period < slow_period, in bars; full_strength_spread: relative gap of the averages
    that counts as full strength; interval: the bars it consumes."""


class SmaCross(MovingAverageCross):
    name: ClassVar[str] = "sma_cross"
    config_type: ClassVar[type[SmaCrossConfig]] = SmaCrossConfig
    average_label = "SMA"

    def __init__(self, symbol: str, config: SmaCrossConfig) -> None:
        super().__init__(symbol, config)
        self._fast_sum = ExactMovingSum(config.fast_period)
        self._slow_sum = ExactMovingSum(config.slow_period)

    def update_averages(self, close: Decimal) -> bool:
        fast, slow = self._fast_sum.update(close), self._slow_sum.update(close)
        return fast is not None and slow is not None

    def difference(self) -> Decimal:
        settings = self.settings
        return self._fast_sum.value * settings.slow_period - self._slow_sum.value * settings.fast_period  # type: ignore[operator]

    def averages(self) -> tuple[float, float]:
        settings = self.settings
        return float(self._fast_sum.value) / settings.fast_period, float(self._slow_sum.value) / settings.slow_period  # type: ignore[arg-type]


STRATEGY = SmaCross
