"""breakout: trade a close beyond the range of the previous `lookback` bars.

BUY when a bar closes above the highest high of the `lookback` bars before it, SELL when it
closes below their lowest low. Every such bar is a breakout (in a strong trend, several in a
row); whether a BUY opens anything when a position is already held is risk's call.

A BUY carries an ATR stop: close - atr_multiplier * ATR(atr_period), rounded down (never tighter
than computed) to the bar's price precision (the most decimals written in its open, high, low
or close). If that stop would not be positive it is left out.

Strength is the size of the break in ATRs: (close - previous high) / ATR for a BUY,
(previous low - close) / ATR for a SELL, capped at 1: a close one ATR beyond the range is full
strength.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Context, Decimal
from typing import ClassVar

from pydantic import Field

from bot.domain.events import Kline
from bot.domain.trading import Signal, SignalAction
from bot.features.rolling import HighestHigh, LowestLow
from bot.features.wilder import AverageTrueRange
from bot.strategy.base import BarStrategy, StrategyConfig

# An explicit context, not the thread's global one, so the stop is the same wherever it runs.
_PRICE_CONTEXT = Context(prec=40)


class BreakoutConfig(StrategyConfig):
    lookback: int = Field(default=20, ge=1)
    atr_period: int = Field(default=14, ge=1)
    atr_multiplier: float = Field(default=2.0, gt=0.0, allow_inf_nan=False)


def price_quantum(bar: Kline) -> Decimal:
    """The finest step written in the bar's prices: Decimal('0.01') for '114584.01'."""
    exponent = min(int(price.as_tuple().exponent) for price in (bar.open, bar.high, bar.low, bar.close))
    return Decimal((0, (1,), exponent))


def atr_stop(bar: Kline, atr: float, multiplier: float) -> Decimal | None:
    offset = Decimal(repr(multiplier * atr))
    stop = _PRICE_CONTEXT.subtract(bar.close, offset).quantize(
        price_quantum(bar), rounding=ROUND_FLOOR, context=_PRICE_CONTEXT
    )
    return stop if stop > 0 else None


class Breakout(BarStrategy):
    name: ClassVar[str] = "breakout"
    config_type: ClassVar[type[BreakoutConfig]] = BreakoutConfig

    def __init__(self, symbol: str, config: BreakoutConfig) -> None:
        self.settings = config  # typed view of self.config, set first: required_bars reads it
        super().__init__(symbol, config)
        self._highest = HighestHigh(config.lookback)
        self._lowest = LowestLow(config.lookback)
        self._atr = AverageTrueRange(config.atr_period)

    def required_bars(self) -> int:
        # `lookback` bars before the breaking bar; the ATR includes the breaking bar itself.
        return max(self.settings.lookback, self.settings.atr_period - 1)

    def evaluate(self, bar: Kline) -> Signal:
        high, low, close = float(bar.high), float(bar.low), float(bar.close)
        # The range of the bars *before* this one: read before this bar is added.
        previous_high, previous_low = self._highest.value, self._lowest.value
        atr = self._atr.update(high, low, close)
        self._highest.update(high)
        self._lowest.update(low)
        if previous_high is None or previous_low is None or atr is None:
            return self.warming_up(bar)
        lookback = self.settings.lookback
        if close > previous_high:
            stop = atr_stop(bar, atr, self.settings.atr_multiplier)
            reason = f"close {bar.close} above the {lookback}-bar high {previous_high:.10g} (ATR {atr:.10g})"
            return self.signal(bar, SignalAction.BUY, _in_atrs(close - previous_high, atr), reason, stop)
        if close < previous_low:
            reason = f"close {bar.close} below the {lookback}-bar low {previous_low:.10g} (ATR {atr:.10g})"
            return self.signal(bar, SignalAction.SELL, _in_atrs(previous_low - close, atr), reason)
        return self.hold(bar, f"close {bar.close} inside the {lookback}-bar range {previous_low:.10g}..{previous_high:.10g}")


def _in_atrs(distance: float, atr: float) -> float:
    # A positive break needs a positive true range on this bar, so atr > 0; guard anyway.
    return 1.0 if atr <= 0.0 else distance / atr


STRATEGY = Breakout
