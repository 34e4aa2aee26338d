"""Pump and dump: a sharp rise on a volume spike, followed by a reversal, within a window.

Each time a bar closes, the bars of the window are scanned once (a few dozen bars) for the
largest rise from a low to a later high, and the volume of the bars that made it is compared
with the median bar volume. What happened after the peak is then tracked per event in O(1): the
lowest price since the peak measures how much of the rise has been given back.
"""

from __future__ import annotations

import math
from collections import deque

from pydantic import Field

from bot.domain.events import MarketEvent
from bot.domain.trading import GuardLevel, GuardVerdict
from bot.guards.bars import Bar, BarBuilder, BarSource
from bot.guards.base import (
    SECOND,
    Escalation,
    GuardSettingsModel,
    above,
    grade,
    make_verdict,
)


class PumpDumpSettings(GuardSettingsModel):
    enabled: bool = True
    source: BarSource = Field("trade", description="stream the bars are built from (one only)")
    bar_seconds: int = Field(60, gt=0, description="bar length; kline sources need the same interval")
    window_bars: int = Field(30, ge=2, le=1_000, description="bars in which rise and reversal must both happen")
    baseline_bars: int = Field(60, ge=2, le=10_000, description="bars whose median volume is 'normal'")
    min_baseline_bars: int = Field(10, ge=1, description="bars needed before the guard judges at all")
    rise_pct: float = Field(5.0, gt=0, description="rise from a low to a later high, in percent, that counts as a pump")
    spike_ratio: float = Field(3.0, gt=1, description="largest bar volume of the rise / median bar volume that counts as a spike")
    retrace_fraction: float = Field(
        0.5, gt=0, le=1, description="share of the rise given back after the peak that counts as the dump"
    )
    escalation: Escalation = Escalation()


class PumpDumpGuard:
    """MODERATE while a pump stands (rise on a spike), HIGH once it reverses by `retrace_fraction`,
    CRITICAL when the reversed rise was also `escalation.critical` times `rise_pct` or more."""

    name = "pump_dump"

    def __init__(self, symbol: str, settings: PumpDumpSettings | None = None) -> None:
        self.symbol = symbol
        self.settings = settings or PumpDumpSettings()
        self._bars: deque[Bar] = deque(maxlen=self.settings.window_bars)
        self._volumes: deque[float] = deque(maxlen=self.settings.baseline_bars)
        self._builder = BarBuilder(self.settings.bar_seconds * SECOND, self.settings.source, self._on_close,
                                   max_empty_bars=self.settings.window_bars)
        # The pump found at the last bar close: trough low, peak high, rise, volume ratio, and the
        # lowest low of the closed bars after the peak.
        self._trough = self._peak = 0.0
        self._rise_pct = 0.0
        self._volume_ratio = 0.0
        self._low_after_peak = math.inf

    def observe(self, event: MarketEvent) -> None:
        self._builder.observe(event)

    def _on_close(self, bar: Bar) -> None:
        self._bars.append(bar)
        if bar.complete:
            self._volumes.append(bar.volume)
        self._scan()

    def _scan(self) -> None:
        """Find the largest rise from a low to a later high. Within one bar only open -> high counts:
        a bar's low and high come in an unknown order, and a crash bar (high first, then low) must
        not read as a rise."""
        bars = self._bars
        best_rise, trough, trough_index, peak_index = 0.0, 0.0, 0, -1
        lowest, lowest_index = math.inf, 0  # the lowest low of the bars before the current one
        for index, bar in enumerate(bars):
            for start, start_index in ((lowest, lowest_index), (bar.open, index)):
                if 0 < start < bar.high and (bar.high / start - 1.0) * 100.0 > best_rise:
                    best_rise, trough, trough_index, peak_index = (bar.high / start - 1.0) * 100.0, start, start_index, index
            if bar.low < lowest:
                lowest, lowest_index = bar.low, index
        self._rise_pct = best_rise
        self._volume_ratio = 0.0
        self._low_after_peak = math.inf
        if peak_index < 0:
            return
        self._trough, self._peak = trough, bars[peak_index].high
        spike = max(bars[index].volume for index in range(trough_index, peak_index + 1))
        ranked = sorted(self._volumes)
        median = ranked[len(ranked) // 2] if ranked else 0.0
        self._volume_ratio = spike / median if median > 0 else (math.inf if spike > 0 else 0.0)
        for index in range(peak_index + 1, len(bars)):
            self._low_after_peak = min(self._low_after_peak, bars[index].low)

    def verdict(self, now_ns: int) -> GuardVerdict:
        settings = self.settings
        if len(self._volumes) < settings.min_baseline_bars or self._volume_ratio < settings.spike_ratio:
            return make_verdict(self.name, self.symbol, now_ns, [])
        rise_level, rise_threshold = grade(self._rise_pct, settings.rise_pct, settings.escalation)
        if rise_level == GuardLevel.NORMAL:
            return make_verdict(self.name, self.symbol, now_ns, [])
        findings = [
            (min(rise_level, GuardLevel.MODERATE), above("pump_rise_pct", self._rise_pct, min(rise_threshold, settings.rise_pct))),
            (min(rise_level, GuardLevel.MODERATE), above("pump_volume_ratio", self._volume_ratio, settings.spike_ratio)),
        ]
        if rise_level >= GuardLevel.MODERATE:
            forming = self._builder.current
            low_after = self._low_after_peak
            if forming is not None and self._builder.source != "kline":  # klines have no forming bar
                low_after = min(low_after, forming.low)
            if low_after < self._peak:
                retrace = (self._peak - low_after) / (self._peak - self._trough)
                if retrace >= settings.retrace_fraction:
                    level = GuardLevel.CRITICAL if rise_level == GuardLevel.CRITICAL else GuardLevel.HIGH
                    findings.append((level, above("dump_retrace", retrace, settings.retrace_fraction)))
        return make_verdict(self.name, self.symbol, now_ns, findings)

    def pump(self) -> dict[str, float]:
        """The pump found at the last bar close, for metrics and tests."""
        return {"rise_pct": self._rise_pct, "volume_ratio": self._volume_ratio, "trough": self._trough,
                "peak": self._peak, "low_after_peak": self._low_after_peak}
