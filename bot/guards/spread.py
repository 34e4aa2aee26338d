"""Suspicious spread: the best bid/ask spread in basis points, against absolute limits and
against its own rolling median; a crossed or locked book is CRITICAL.

The relative test needs a floor: a liquid book such as BTCUSDT quotes a one-tick spread of
0.002 bps, so a two-tick spread is "twice the median" and means nothing. Only spreads of at least
`relative_floor_bps` are compared with the median.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque

from pydantic import Field, model_validator

from bot.domain.events import BookTicker, MarketEvent
from bot.domain.trading import GuardLevel, GuardVerdict
from bot.guards.base import (
    SECOND,
    Escalation,
    GuardSettingsModel,
    above,
    grade,
    make_verdict,
)


class SuspiciousSpreadSettings(GuardSettingsModel):
    enabled: bool = True
    max_spread_bps: float = Field(50.0, gt=0, description="spread in basis points that is MODERATE on its own")
    relative_limit: float = Field(5.0, gt=1, description="spread / rolling median that is MODERATE")
    relative_floor_bps: float = Field(
        5.0, ge=0, description="spreads narrower than this are never flagged for being wide relative to the median"
    )
    median_samples: int = Field(300, ge=3, le=10_000, description="samples in the rolling median (one per sample_seconds)")
    min_median_samples: int = Field(30, ge=1, description="samples needed before the relative test runs")
    sample_seconds: int = Field(1, gt=0, description="the median keeps the last spread of each such period")
    escalation: Escalation = Escalation()

    @model_validator(mode="after")
    def _enough_samples(self) -> SuspiciousSpreadSettings:
        if self.min_median_samples > self.median_samples:
            raise ValueError(
                f"min_median_samples ({self.min_median_samples}) cannot exceed median_samples ({self.median_samples})"
            )
        return self


class _RollingMedian:
    """Median of the last `size` values: a FIFO for age and a sorted list for rank. Insert and
    removal cost a memmove of at most `size` floats, done once per sample period, not per event."""

    __slots__ = ("order", "ranked", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.order: deque[float] = deque()
        self.ranked: list[float] = []

    def add(self, value: float) -> None:
        if len(self.order) == self.size:
            oldest = self.order.popleft()
            del self.ranked[bisect_left(self.ranked, oldest)]
        self.order.append(value)
        insort(self.ranked, value)

    def __len__(self) -> int:
        return len(self.order)

    def median(self) -> float:
        ranked = self.ranked
        middle = len(ranked) // 2
        return ranked[middle] if len(ranked) % 2 else (ranked[middle - 1] + ranked[middle]) / 2


class SuspiciousSpreadGuard:
    """Judges the latest best bid and offer (BookTicker events; other kinds are ignored)."""

    name = "suspicious_spread"

    def __init__(self, symbol: str, settings: SuspiciousSpreadSettings | None = None) -> None:
        self.symbol = symbol
        self.settings = settings or SuspiciousSpreadSettings()
        self._median = _RollingMedian(self.settings.median_samples)
        self._sample_ns = self.settings.sample_seconds * SECOND
        self._period = -1  # the sample period of the latest quote
        self._latest: BookTicker | None = None

    def observe(self, event: MarketEvent) -> None:
        # Quotes are the busiest stream: keep the latest and compute its spread only when it is
        # used (a sample period ends, or a verdict is asked for).
        if type(event) is not BookTicker:
            return
        period = event.ts_event // self._sample_ns
        if period > self._period:
            spread = self._spread_bps
            if spread > 0:
                self._median.add(spread)  # the last quote of the period just ended
            self._period = period
        self._latest = event  # type: ignore[assignment]

    @property
    def _spread_bps(self) -> float:
        latest = self._latest
        if latest is None:
            return 0.0
        bid, ask = latest.bid_price, latest.ask_price
        mid = float(bid + ask) / 2
        return float(ask - bid) / mid * 10_000 if mid > 0 else 0.0

    def verdict(self, now_ns: int) -> GuardVerdict:
        latest = self._latest
        if latest is None:
            return make_verdict(self.name, self.symbol, now_ns, [])
        if latest.bid_price > latest.ask_price:
            reason = f"crossed_book:bid={latest.bid_price}>ask={latest.ask_price}"
            return make_verdict(self.name, self.symbol, now_ns, [(GuardLevel.CRITICAL, reason)])
        if latest.bid_price == latest.ask_price:
            reason = f"locked_book:bid={latest.bid_price}=ask={latest.ask_price}"
            return make_verdict(self.name, self.symbol, now_ns, [(GuardLevel.CRITICAL, reason)])
        settings = self.settings
        spread = self._spread_bps
        level, threshold = grade(spread, settings.max_spread_bps, settings.escalation)
        findings = [(level, above("spread_bps", spread, threshold))]
        if spread >= settings.relative_floor_bps and len(self._median) >= settings.min_median_samples:
            median = self._median.median()
            ratio = spread / median if median > 0 else float("inf")
            # Capped at HIGH: a spread wide only relative to its usual self costs a few bps more;
            # the absolute limits and a crossed book are what justify blocking entries.
            level, threshold = grade(ratio, settings.relative_limit, settings.escalation, cap=GuardLevel.HIGH)
            findings.append((level, above("spread_to_median", ratio, threshold)))
        return make_verdict(self.name, self.symbol, now_ns, findings)

    def spread(self) -> tuple[float, float]:
        """The latest spread and the rolling median, in bps, for metrics and tests."""
        return self._spread_bps, self._median.median() if len(self._median) else 0.0
