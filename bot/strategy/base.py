"""The Strategy protocol and a base class for strategies that act on closed bars.

A strategy instance serves one symbol and one bar interval. It sees closed bars in order and
answers every bar with a Signal (HOLD when it has nothing to say), so the engine can record a
decision per bar; it may also look at trades. Strategies emit intents, never orders: guards and
risk decide what happens.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from decimal import Decimal
from typing import ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, field_validator

from bot.domain.events import OPTIONAL_KLINE_FIELDS, Kline, Trade
from bot.domain.trading import Signal, SignalAction
from bot.features.intervals import interval_nanoseconds


@runtime_checkable
class Strategy(Protocol):
    name: str
    symbol: str
    interval: str  # the bar interval it consumes, e.g. "1m"
    warmup_bars: int  # closed bars it needs before the next one can signal

    def on_bar(self, bar: Kline) -> Signal: ...

    def on_trade(self, trade: Trade) -> Signal | None: ...


class StrategyConfig(BaseModel):
    """Parameters every strategy has. Each strategy's config subclasses this beside it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval: str = "1m"

    @field_validator("interval")
    @classmethod
    def _known_interval(cls, value: str) -> str:
        interval_nanoseconds(value)  # raises ValueError with the accepted forms
        return value


class BarStrategy(ABC):
    """Checks each bar is for this strategy and new, then asks `evaluate` for the signal.

    A bar for another symbol or interval, or one not closed, is a wiring mistake and raises. So is
    a bar that lacks one of `required_kline_fields` (None: its source had no such column): a
    strategy must never trade on a number nobody measured, and the run should have been refused
    up front (`bot.strategy.requirements.refuse_missing_kline_fields`). A bar at or before the
    last one seen (a re-delivery after a restart) is answered with HOLD and does not touch the
    indicators, whose windows it would otherwise corrupt.
    """

    name: ClassVar[str]
    config_type: ClassVar[type[StrategyConfig]]
    required_kline_fields: ClassVar[frozenset[str]] = frozenset()
    """Kline fields that may be None (see `OPTIONAL_KLINE_FIELDS`) and that this strategy cannot
    work without, e.g. frozenset({"taker_buy_base_volume"})."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        unknown = sorted(set(cls.required_kline_fields) - set(OPTIONAL_KLINE_FIELDS))
        if unknown:
            # A typo here would make the check a silent no-op; fields that are never None need no check.
            raise TypeError(
                f"{cls.__name__}.required_kline_fields: {', '.join(unknown)} not among the kline fields "
                f"that can be missing ({', '.join(OPTIONAL_KLINE_FIELDS)})"
            )

    def __init__(self, symbol: str, config: StrategyConfig) -> None:
        if not isinstance(config, self.config_type):
            raise TypeError(f"{self.name} needs a {self.config_type.__name__}, got {type(config).__name__}")
        self.symbol = symbol
        self.config = config
        self.interval = config.interval
        self.warmup_bars = self.required_bars()
        self.bars_seen = 0
        self._last_open_time: int | None = None
        # In Kline field order, so the message names them the same way on every run.
        self._required_fields = tuple(field for field in OPTIONAL_KLINE_FIELDS if field in self.required_kline_fields)

    @abstractmethod
    def required_bars(self) -> int:
        """Closed bars needed before the next bar can produce a BUY or SELL."""

    @abstractmethod
    def evaluate(self, bar: Kline) -> Signal:
        """The signal for a new closed bar of this symbol and interval."""

    def on_bar(self, bar: Kline) -> Signal:
        if bar.symbol != self.symbol or bar.interval != self.interval:
            raise ValueError(
                f"strategy {self.name} for {self.symbol} {self.interval} got a {bar.symbol} {bar.interval} bar"
            )
        if not bar.is_closed:
            raise ValueError(f"strategy {self.name} got an open {bar.interval} bar at {bar.open_time}")
        for field in self._required_fields:
            if getattr(bar, field) is None:
                raise ValueError(
                    f"strategy {self.name} needs the klines' {field}, but the {bar.symbol} {bar.interval} bar at "
                    f"{bar.open_time} has none (its source lacks the column); it will not trade on invented numbers"
                )
        if self._last_open_time is not None and bar.open_time <= self._last_open_time:
            return self.hold(bar, f"bar already seen (last open time {self._last_open_time})")
        self._last_open_time = bar.open_time
        self.bars_seen += 1
        return self.evaluate(bar)

    def on_trade(self, trade: Trade) -> Signal | None:
        return None

    def warming_up(self, bar: Kline) -> Signal:
        return self.hold(bar, f"warming up ({self.bars_seen}/{self.warmup_bars} bars)")

    def hold(self, bar: Kline, reason: str) -> Signal:
        return self.signal(bar, SignalAction.HOLD, 0.0, reason)

    def signal(
        self, bar: Kline, action: SignalAction, strength: float, reason: str, stop_price: Decimal | None = None
    ) -> Signal:
        if not math.isfinite(strength):
            raise ValueError(f"strategy {self.name}: strength must be finite, got {strength!r}")
        return Signal(
            strategy=self.name,
            symbol=self.symbol,
            action=action,
            strength=min(1.0, max(0.0, strength)),
            ts_event=bar.close_time,
            trigger=f"kline_{bar.interval}:{bar.open_time}",
            reason=reason,
            stop_price=stop_price,
        )
