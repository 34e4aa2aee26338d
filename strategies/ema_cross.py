"""ema_cross: BUY when the fast exponential moving average of closes crosses above the slow one,
SELL when it crosses below. EMAs are SMA-seeded (bot.features.averages), so the first signal
can come after `slow_period` bars. Strength as in bot.strategy.moving_average_cross."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from bot.features.averages import ExponentialMovingAverage
from bot.strategy.moving_average_cross import (
    MovingAverage,
    MovingAverageCross,
    MovingAverageCrossConfig,
)


class EmaCrossConfig(MovingAverageCrossConfig):
    """The classic MACD pair by default: 12 and 26 bars."""

    fast_period: int = Field(default=12, ge=1)
    slow_period: int = Field(default=26, ge=2)


class EmaCross(MovingAverageCross):
    name: ClassVar[str] = "ema_cross"
    config_type: ClassVar[type[EmaCrossConfig]] = EmaCrossConfig
    average_label = "EMA"

    def __init__(self, symbol: str, config: EmaCrossConfig) -> None:
        super().__init__(symbol, config)
        self._fast: MovingAverage = ExponentialMovingAverage(config.fast_period)
        self._slow: MovingAverage = ExponentialMovingAverage(config.slow_period)

    def update_averages(self, close: Decimal) -> bool:
        value = float(close)
        fast, slow = self._fast.update(value), self._slow.update(value)
        return fast is not None and slow is not None

    def difference(self) -> float:
        return self._fast.value - self._slow.value  # type: ignore[operator]

    def averages(self) -> tuple[float, float]:
        return self._fast.value, self._slow.value  # type: ignore[return-value]


STRATEGY = EmaCross
