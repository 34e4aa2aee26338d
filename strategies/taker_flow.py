"""taker_flow: long-only order flow on the share of volume bought by takers.

Every kline says how much of its base volume takers bought (`taker_buy_base_volume`): buyers
lifting offers rather than waiting on the bid. The rolling taker-buy ratio is the mean of
taker_buy_base_volume / volume over the last `period` bars (bot.features.rolling.TakerBuyRatio;
a bar without volume counts 0.5). BUY when it crosses up through `enter_above` (buyers have taken
over), SELL when it crosses down through `exit_below` (they have left). Between the two levels
nothing happens, so a ratio wobbling around one level does not flip in and out. Touching a level
exactly does not change sides (bot.strategy.crossing); SELL closes a long, it never opens a short
(whether it closes anything is risk's call).

Strength is how far past its level the ratio went on the crossing bar, in units of
`full_strength_margin`: (ratio - enter_above) / margin for a BUY, (exit_below - ratio) / margin
for a SELL, capped at 1. With the default 0.05, a ratio of 0.60 crossing 0.55 is full strength.

It needs the klines' taker column: data without it (OHLCV-only files) is refused before a run
(bot.strategy.requirements) and a bar without it raises.
"""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, model_validator

from bot.domain.events import Kline
from bot.domain.trading import Signal, SignalAction
from bot.features.rolling import TakerBuyRatio
from bot.strategy.base import BarStrategy, StrategyConfig
from bot.strategy.crossing import CrossDetector
from bot.strategy.errors import ParameterError


class TakerFlowConfig(StrategyConfig):
    """period: bars in the mean; enter_above / exit_below: levels of the taker-buy ratio, with
    0 < exit_below < enter_above < 1; full_strength_margin: distance past a level that counts as
    full strength; interval: the bars it consumes."""

    period: int = Field(default=20, ge=1)
    enter_above: float = Field(default=0.55, gt=0.0, lt=1.0)
    exit_below: float = Field(default=0.45, gt=0.0, lt=1.0)
    full_strength_margin: float = Field(default=0.05, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _levels_in_order(self) -> Self:
        if self.exit_below >= self.enter_above:
            raise ParameterError(
                "exit_below", f"must be less than enter_above (got {self.exit_below:g} >= {self.enter_above:g})"
            )
        return self


class TakerFlow(BarStrategy):
    name: ClassVar[str] = "taker_flow"
    config_type: ClassVar[type[TakerFlowConfig]] = TakerFlowConfig
    required_kline_fields: ClassVar[frozenset[str]] = frozenset({"taker_buy_base_volume"})

    def __init__(self, symbol: str, config: TakerFlowConfig) -> None:
        self.settings = config  # typed view of self.config, set first: required_bars reads it
        super().__init__(symbol, config)
        self._ratio = TakerBuyRatio(config.period)
        self._enter = CrossDetector()
        self._exit = CrossDetector()

    def required_bars(self) -> int:
        # The bar that completes the first window fixes the side; the next one can cross.
        return self.settings.period

    def evaluate(self, bar: Kline) -> Signal:
        taker = bar.taker_buy_base_volume
        assert taker is not None  # on_bar refuses a bar without it (required_kline_fields)
        ratio = self._ratio.update(float(taker), float(bar.volume))
        if ratio is None:
            return self.warming_up(bar)
        settings = self.settings
        up = self._enter.update(ratio - settings.enter_above) > 0
        down = self._exit.update(ratio - settings.exit_below) < 0
        label = f"taker-buy ratio({settings.period}) {ratio:.4f}"
        if up:
            strength = (ratio - settings.enter_above) / settings.full_strength_margin
            return self.signal(bar, SignalAction.BUY, strength, f"{label} crossed up through {settings.enter_above:g}")
        if down:
            strength = (settings.exit_below - ratio) / settings.full_strength_margin
            return self.signal(bar, SignalAction.SELL, strength, f"{label} crossed down through {settings.exit_below:g}")
        return self.hold(bar, label)


STRATEGY = TakerFlow
