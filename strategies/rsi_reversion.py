"""rsi_reversion: mean reversion on Wilder's RSI of closes.

BUY when the RSI crosses up through `oversold` (it was below, now it is at or above: the dip is
being bought), SELL when it crosses down through `overbought`. Touching a level exactly does
not change sides (bot.strategy.crossing).

Strength is how deep the excursion went before the turn: for a BUY (oversold - lowest RSI while
below) / oversold, for a SELL (highest RSI while above - overbought) / (100 - overbought). Both
lie in [0, 1]: a turn from RSI 5 with oversold 30 is strong (0.83), one from 29 is weak (0.03).
"""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, model_validator

from bot.domain.events import Kline
from bot.domain.trading import Signal, SignalAction
from bot.features.wilder import RelativeStrengthIndex
from bot.strategy.base import BarStrategy, StrategyConfig
from bot.strategy.crossing import CrossDetector
from bot.strategy.errors import ParameterError


class RsiReversionConfig(StrategyConfig):
    period: int = Field(default=14, ge=2)
    oversold: float = Field(default=30.0, gt=0.0, lt=100.0)
    overbought: float = Field(default=70.0, gt=0.0, lt=100.0)

    @model_validator(mode="after")
    def _levels_in_order(self) -> Self:
        if self.oversold >= self.overbought:
            raise ParameterError(
                "oversold", f"must be less than overbought (got {self.oversold:g} >= {self.overbought:g})"
            )
        return self


class RsiReversion(BarStrategy):
    name: ClassVar[str] = "rsi_reversion"
    config_type: ClassVar[type[RsiReversionConfig]] = RsiReversionConfig

    def __init__(self, symbol: str, config: RsiReversionConfig) -> None:
        self.settings = config  # typed view of self.config, set first: required_bars reads it
        super().__init__(symbol, config)
        self._rsi = RelativeStrengthIndex(config.period)
        self._oversold = CrossDetector()
        self._overbought = CrossDetector()
        self._lowest: float | None = None  # lowest RSI of the current stay below `oversold`
        self._highest: float | None = None  # highest RSI of the current stay above `overbought`

    def required_bars(self) -> int:
        # The RSI needs period + 1 closes; that bar fixes the side, the next one can cross.
        return self.settings.period + 1

    def evaluate(self, bar: Kline) -> Signal:
        rsi = self._rsi.update(float(bar.close))
        if rsi is None:
            return self.warming_up(bar)
        oversold, overbought = self.settings.oversold, self.settings.overbought
        up = self._oversold.update(rsi - oversold) > 0
        down = self._overbought.update(rsi - overbought) < 0
        lowest, highest = self._lowest, self._highest
        self._track_extremes(rsi)
        if up and lowest is not None:
            strength = (oversold - lowest) / oversold
            reason = f"RSI({self.settings.period}) {rsi:.4f} crossed up through {oversold:g} from a low of {lowest:.4f}"
            return self.signal(bar, SignalAction.BUY, strength, reason)
        if down and highest is not None:
            strength = (highest - overbought) / (100.0 - overbought)
            reason = f"RSI({self.settings.period}) {rsi:.4f} crossed down through {overbought:g} from a high of {highest:.4f}"
            return self.signal(bar, SignalAction.SELL, strength, reason)
        return self.hold(bar, f"RSI({self.settings.period}) {rsi:.4f}")

    def _track_extremes(self, rsi: float) -> None:
        if self._oversold.side < 0:
            self._lowest = rsi if self._lowest is None else min(self._lowest, rsi)
        else:
            self._lowest = None
        if self._overbought.side > 0:
            self._highest = rsi if self._highest is None else max(self._highest, rsi)
        else:
            self._highest = None


STRATEGY = RsiReversion
