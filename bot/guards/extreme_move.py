"""Extreme move: the price has changed by more than a limit over a window (e.g. 3% in 5 minutes).

The change is measured like Binance's 24-hour ticker: the last price against the price at the
start of the window (the last price seen at or before it). Memory is bounded by keeping one
sample per `window / samples_per_window` of event time, so a 24-hour window over a busy symbol
holds a few hundred samples, not millions of trades.
"""

from __future__ import annotations

from collections import deque

from pydantic import Field, model_validator

from bot.domain.events import AggTrade, Kline, MarketEvent, Trade
from bot.domain.trading import GuardVerdict
from bot.guards.base import (
    SECOND,
    Escalation,
    GuardSettingsModel,
    above,
    below,
    duration_label,
    grade,
    make_verdict,
)


class MoveWindow(GuardSettingsModel):
    seconds: int = Field(gt=0, description="length of the window in seconds")
    limit_pct: float = Field(gt=0, description="absolute price change, in percent, that is MODERATE")


class ExtremeMoveSettings(GuardSettingsModel):
    enabled: bool = True
    windows: tuple[MoveWindow, ...] = Field(
        default=(MoveWindow(seconds=300, limit_pct=3.0), MoveWindow(seconds=86400, limit_pct=10.0)),
        min_length=1,
        description="windows and their limits; defaults: 3% in 5 minutes, 10% in 24 hours",
    )
    samples_per_window: int = Field(
        300, ge=10, le=10_000, description="price samples kept per window (its time resolution)"
    )
    escalation: Escalation = Escalation()

    @model_validator(mode="after")
    def _distinct_windows(self) -> ExtremeMoveSettings:
        seconds = [window.seconds for window in self.windows]
        if len(set(seconds)) != len(seconds):
            raise ValueError(f"windows must have distinct lengths, got {seconds}")
        return self


class _PriceWindow:
    """The prices needed to know the change over one window, one sample per resolution step.

    Each sample is `[step, ts, price]`: the last price seen in that step and when. The deque holds
    the newest sample at or before the window's start (the reference) and everything after it.
    """

    __slots__ = ("label", "limit_pct", "resolution_ns", "samples", "window_ns")

    def __init__(self, window: MoveWindow, samples_per_window: int) -> None:
        self.window_ns = window.seconds * SECOND
        self.resolution_ns = max(self.window_ns // samples_per_window, 1)
        self.label = duration_label(window.seconds)
        self.limit_pct = window.limit_pct
        self.samples: deque[list[int | float]] = deque()

    def add(self, ts: int, price: float) -> None:
        samples = self.samples
        step = ts // self.resolution_ns
        if samples and samples[-1][0] == step:
            last = samples[-1]
            last[1] = ts
            last[2] = price
        else:
            samples.append([step, ts, price])
        start = ts - self.window_ns
        while len(samples) >= 2 and samples[1][1] <= start:
            samples.popleft()

    def move_pct(self) -> float:
        """Change of the last price against the window's reference, in percent.

        The reference is the last sample at or before the window's start, if it is not older than
        one more window (a price from long before says nothing about this window: e.g. yesterday's
        daily close for a 5-minute window). Otherwise the oldest sample inside the window is used,
        so a young history still reports the move it has seen.
        """
        samples = self.samples
        if not samples:
            return 0.0
        newest_ts, newest_price = samples[-1][1], samples[-1][2]
        start = newest_ts - self.window_ns
        reference = samples[0]
        if reference[1] < start - self.window_ns:
            reference = samples[1] if len(samples) >= 2 else samples[0]
        reference_price = reference[2]
        if reference_price <= 0:
            return 0.0
        return (newest_price / reference_price - 1.0) * 100.0  # type: ignore[operator]


class ExtremeMoveGuard:
    """Flags a price change beyond a limit over any configured window, graded by how far beyond.

    Prices come from trades, aggregate trades and closed klines (their close at `close_time`; the
    very first kline also gives its open). Samples older than the newest one seen are ignored, so
    a kline arriving after the trades it summarises changes nothing.
    """

    name = "extreme_move"

    def __init__(self, symbol: str, settings: ExtremeMoveSettings | None = None) -> None:
        self.symbol = symbol
        self.settings = settings or ExtremeMoveSettings()
        self._windows = [_PriceWindow(window, self.settings.samples_per_window) for window in self.settings.windows]
        self._last_ts = -1

    def observe(self, event: MarketEvent) -> None:
        kind = type(event)
        if kind is Trade or kind is AggTrade:
            self._add(event.ts_trade, float(event.price))  # type: ignore[attr-defined]
        elif kind is Kline and event.is_closed:  # type: ignore[attr-defined]
            if self._last_ts < 0:
                self._add(event.open_time, float(event.open))  # type: ignore[attr-defined]
            self._add(event.close_time, float(event.close))  # type: ignore[attr-defined]

    def _add(self, ts: int, price: float) -> None:
        if ts < self._last_ts:
            return
        self._last_ts = ts
        for window in self._windows:
            window.add(ts, price)

    def verdict(self, now_ns: int) -> GuardVerdict:
        escalation = self.settings.escalation
        findings = []
        for window in self._windows:
            move = window.move_pct()
            level, threshold = grade(abs(move), window.limit_pct, escalation)
            metric = f"move_{window.label}_pct"
            reason = above(metric, move, threshold) if move >= 0 else below(metric, move, -threshold)
            findings.append((level, reason))
        return make_verdict(self.name, self.symbol, now_ns, findings)

    def moves_pct(self) -> dict[str, float]:
        """The current change per window label, for metrics and tests."""
        return {window.label: window.move_pct() for window in self._windows}


__all__ = ["ExtremeMoveGuard", "ExtremeMoveSettings", "MoveWindow"]
