"""Abnormal volume: the volume of the last bar against a rolling baseline of earlier bars.

Far above (a spike) is measured as a z-score, as volume spikes are. Far below (a market gone
quiet) is measured as a ratio to the baseline mean instead: volume cannot fall below zero, so a
z-score of an empty minute stays small whenever the baseline varies much, and would never say
"this market stopped trading".
"""

from __future__ import annotations

import math
from collections import deque

from pydantic import Field, model_validator

from bot.domain.events import MarketEvent
from bot.domain.trading import GuardLevel, GuardVerdict
from bot.guards.bars import Bar, BarBuilder, BarSource
from bot.guards.base import (
    SECOND,
    Escalation,
    GuardSettingsModel,
    above,
    below,
    grade,
    make_verdict,
)


class AbnormalVolumeSettings(GuardSettingsModel):
    enabled: bool = True
    source: BarSource = Field("trade", description="stream whose volume is counted (one only, or it counts twice)")
    bar_seconds: int = Field(60, gt=0, description="length of a volume bar; kline sources need the same interval")
    baseline_bars: int = Field(60, ge=2, le=10_000, description="completed bars in the rolling baseline")
    min_baseline_bars: int = Field(20, ge=2, description="bars needed before the guard judges at all")
    spike_z: float = Field(5.0, gt=0, description="z-score of a bar's volume that is MODERATE")
    quiet_ratio: float = Field(
        0.1, gt=0, lt=1, description="bar volume / baseline mean at or below which the market has gone quiet"
    )
    min_relative_std: float = Field(
        0.25, ge=0, description="floor of the baseline's standard deviation, as a fraction of its mean"
    )
    # Volume is heavy-tailed: on real BTCUSDT minutes a z of 5-8 happens several times a day, while
    # 25+ (CRITICAL, 5 x spike_z) marks events like 2025-09-22 05:59 UTC (z of about 48).
    escalation: Escalation = Escalation(critical=5.0)

    @model_validator(mode="after")
    def _enough_baseline(self) -> AbnormalVolumeSettings:
        if self.min_baseline_bars > self.baseline_bars:
            raise ValueError(
                f"min_baseline_bars ({self.min_baseline_bars}) cannot exceed baseline_bars ({self.baseline_bars})"
            )
        return self


class _Stats:
    """Mean and floored standard deviation of a baseline, computed once per closed bar."""

    __slots__ = ("count", "mean", "std")

    def __init__(self, values: deque[float], min_relative_std: float) -> None:
        self.count = len(values)
        self.mean = math.fsum(values) / self.count if values else 0.0
        variance = math.fsum((value - self.mean) ** 2 for value in values) / self.count if values else 0.0
        # A short or unusually steady baseline understates how much volume varies; without a floor
        # a minute 10% busier than a flat hour would read as a huge z-score.
        self.std = max(math.sqrt(variance), self.mean * min_relative_std)

    def z(self, volume: float) -> float:
        if self.std > 0:
            return (volume - self.mean) / self.std
        return math.inf if volume > self.mean else 0.0


class AbnormalVolumeGuard:
    """Flags a bar whose volume is far above (z-score) or far below (ratio) the rolling baseline.

    The forming bar is checked for spikes too (its volume so far is a lower bound), so a spike is
    seen before its minute ends. Quietness is judged on completed bars only. Events of every kind
    move the bar clock, so a minute without trades shows up as an empty bar while books update.
    """

    name = "abnormal_volume"

    def __init__(self, symbol: str, settings: AbnormalVolumeSettings | None = None) -> None:
        self.symbol = symbol
        self.settings = settings or AbnormalVolumeSettings()
        self._baseline: deque[float] = deque(maxlen=self.settings.baseline_bars)
        self._builder = BarBuilder(self.settings.bar_seconds * SECOND, self.settings.source, self._on_close,
                                   max_empty_bars=self.settings.baseline_bars + 1)
        self._last_volume: float | None = None  # the last completed bar, judged against `_before_last`
        self._before_last = _Stats(deque(), 0.0)
        self._current = _Stats(deque(), 0.0)  # the baseline the forming bar is judged against

    def observe(self, event: MarketEvent) -> None:
        if not self._builder.observe(event):
            self._builder.advance(event.ts_event)

    def _on_close(self, bar: Bar) -> None:
        if not bar.complete:
            return
        self._before_last = self._current
        self._last_volume = bar.volume
        self._baseline.append(bar.volume)
        self._current = _Stats(self._baseline, self.settings.min_relative_std)

    def verdict(self, now_ns: int) -> GuardVerdict:
        settings = self.settings
        findings: list[tuple[GuardLevel, str]] = []
        if self._last_volume is not None and self._before_last.count >= settings.min_baseline_bars:
            z = self._before_last.z(self._last_volume)
            level, threshold = grade(z, settings.spike_z, settings.escalation)
            findings.append((level, above("volume_z", z, threshold)))
            mean = self._before_last.mean
            if mean > 0:
                ratio = self._last_volume / mean
                # Graded on how many times below the baseline; capped at HIGH: a quiet market is
                # worth attention and smaller sizes, but the data guard owns "the feed is dead".
                factor = mean / self._last_volume if self._last_volume > 0 else math.inf
                level, threshold = grade(factor, 1.0 / settings.quiet_ratio, settings.escalation, cap=GuardLevel.HIGH)
                findings.append((level, below("volume_ratio", ratio, 1.0 / threshold, digits=3)))
        forming = self._builder.current
        if (forming is not None and self._builder.source != "kline" and forming.complete
                and self._current.count >= settings.min_baseline_bars):
            z = self._current.z(forming.volume)
            level, threshold = grade(z, settings.spike_z, settings.escalation)
            findings.append((level, above("volume_z_forming", z, threshold)))
        return make_verdict(self.name, self.symbol, now_ns, findings)

    def last_bar(self) -> dict[str, float]:
        """The last completed bar's volume and its baseline, for metrics and tests."""
        return {"volume": self._last_volume if self._last_volume is not None else math.nan,
                "baseline_mean": self._before_last.mean, "baseline_std": self._before_last.std,
                "baseline_bars": float(self._before_last.count)}


__all__ = ["AbnormalVolumeGuard", "AbnormalVolumeSettings"]
