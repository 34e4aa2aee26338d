"""Shared logic of the moving-average crossover strategies (sma_cross, ema_cross).

BUY when the fast average of closes crosses above the slow one (a golden cross), SELL when it
crosses below (a death cross); see `CrossDetector` for what counts as a cross.

Strength is how decisively the averages have parted on the crossing bar:
|fast - slow| / slow / full_strength_spread, capped at 1. With the default 0.001, averages 0.1%
apart make a full-strength signal; a cross by a hair is a weak one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol, Self

from pydantic import Field, model_validator

from bot.domain.events import Kline
from bot.domain.trading import Signal, SignalAction
from bot.strategy.base import BarStrategy, StrategyConfig
from bot.strategy.crossing import CrossDetector
from bot.strategy.errors import ParameterError


class MovingAverage(Protocol):
    value: float | None

    def update(self, value: float) -> float | None: ...


class MovingAverageCrossConfig(StrategyConfig):
    fast_period: int = Field(default=10, ge=1)
    slow_period: int = Field(default=30, ge=2)
    full_strength_spread: float = Field(default=0.001, gt=0.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _fast_below_slow(self) -> Self:
        # ParameterError, so the message names fast_period rather than the whole model.
        if self.fast_period >= self.slow_period:
            raise ParameterError(
                "fast_period",
                f"must be less than slow_period (got {self.fast_period} >= {self.slow_period})",
            )
        return self


class MovingAverageCross(BarStrategy):
    """The cross logic; a subclass keeps the two averages (`update_averages`, `difference`,
    `averages`). The cross is decided on the sign of `difference` alone, so a subclass that can
    compare exactly (sma_cross: Decimal sums) makes ties exact instead of float noise."""

    average_label = "MA"

    def __init__(self, symbol: str, config: MovingAverageCrossConfig) -> None:
        self.settings = config  # typed view of self.config, set first: required_bars reads it
        super().__init__(symbol, config)
        self._cross = CrossDetector()

    def update_averages(self, close: Decimal) -> bool:
        """Folds in a close; True once both averages exist."""
        raise NotImplementedError

    def difference(self) -> float | Decimal:
        """fast - slow, or anything with its sign."""
        raise NotImplementedError

    def averages(self) -> tuple[float, float]:
        """(fast, slow) for the reason text and the strength."""
        raise NotImplementedError

    def required_bars(self) -> int:
        return self.settings.slow_period

    def evaluate(self, bar: Kline) -> Signal:
        if not self.update_averages(bar.close):
            return self.warming_up(bar)
        direction = self._cross.update(self.difference())
        if direction == 0:
            return self.hold(bar, "no cross")  # the averages are formatted only where they decide
        label, settings = self.average_label, self.settings
        fast, slow = self.averages()
        averages = f"{label}({settings.fast_period})={fast:.10g}, {label}({settings.slow_period})={slow:.10g}"
        strength = abs(fast - slow) / slow / settings.full_strength_spread
        if direction > 0:
            return self.signal(bar, SignalAction.BUY, strength, f"golden cross: {averages}")
        return self.signal(bar, SignalAction.SELL, strength, f"death cross: {averages}")
