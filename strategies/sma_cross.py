"""sma_cross: BUY on a golden cross of the fast and slow simple moving averages of closes, SELL on
a death cross. Strength: how far apart the averages are on the crossing bar (see
bot.strategy.moving_average_cross)."""

from __future__ import annotations

from typing import ClassVar

from bot.features.averages import SimpleMovingAverage
from bot.strategy.moving_average_cross import (
    MovingAverage,
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

    def make_average(self, period: int) -> MovingAverage:
        return SimpleMovingAverage(period)


STRATEGY = SmaCross
