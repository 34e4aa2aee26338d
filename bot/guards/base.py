"""What every guard shares: the Guard protocol, the level ladder and the reason format.

A guard is one object per symbol. The engine feeds it every market event of that symbol in
exchange-time order (`observe`) and asks for a judgement when it needs one (`verdict`). Guards
keep bounded state (deques, running sums) and do O(1) amortised work per event, because the
engine calls `observe` tens of thousands of times a second.

Windows are measured in event time (`ts_trade` / `ts_event`), never in wall time, so a replay of
the same record gives the same verdicts. `now_ns` is only used to stamp a verdict and, by the
data guard, to measure how long the feed has been silent.
"""

from __future__ import annotations

import math
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.domain.events import MarketEvent
from bot.domain.trading import GuardLevel, GuardVerdict

SECOND = 1_000_000_000
"""Nanoseconds in one second."""


class Guard(Protocol):
    """One anomaly detector for one symbol."""

    name: str
    symbol: str

    def observe(self, event: MarketEvent) -> None:
        """Take one market event of this guard's symbol (kinds the guard does not use are ignored)."""

    def verdict(self, now_ns: int) -> GuardVerdict:
        """The guard's judgement of the market as of the events seen so far."""


class GuardSettingsModel(BaseModel):
    """Base of every guard settings model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class Escalation(GuardSettingsModel):
    """How a measured value maps to a level, as multiples of the guard's limit.

    Reaching the limit itself is MODERATE. `low` (below 1) marks a value approaching the limit,
    `high` and `critical` (above 1) mark values well beyond it. One ladder per guard keeps the
    settings short while still grading "how far beyond".
    """

    low: float = Field(0.75, gt=0, lt=1, description="fraction of the limit reported as LOW (approaching)")
    high: float = Field(1.5, gt=1, description="multiple of the limit reported as HIGH")
    critical: float = Field(2.0, gt=1, description="multiple of the limit reported as CRITICAL")

    @model_validator(mode="after")
    def _ordered(self) -> Escalation:
        if self.critical <= self.high:
            raise ValueError(f"critical ({self.critical}) must be above high ({self.high})")
        return self


def grade(
    value: float, limit: float, escalation: Escalation, cap: GuardLevel = GuardLevel.CRITICAL
) -> tuple[GuardLevel, float]:
    """The level `value` reaches against `limit`, and the threshold it crossed for that level.

    `cap` is the worst level this measurement may claim on its own (e.g. a quiet market is worth
    attention but does not by itself justify blocking every entry).
    """
    steps = (
        (GuardLevel.CRITICAL, limit * escalation.critical),
        (GuardLevel.HIGH, limit * escalation.high),
        (GuardLevel.MODERATE, limit),
        (GuardLevel.LOW, limit * escalation.low),
    )
    for level, threshold in steps:
        # A capped measurement reports the threshold of the level it is allowed to claim.
        if level <= cap and value >= threshold:
            return level, threshold
    return GuardLevel.NORMAL, limit


def number(value: float, digits: int = 2) -> str:
    """A number for a reason code: fixed decimals, and `inf` for an unbounded ratio."""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def above(metric: str, value: float, threshold: float, digits: int = 2) -> str:
    """`metric=value>threshold`, e.g. `move_5m_pct=4.21>3.00`."""
    return f"{metric}={number(value, digits)}>{number(threshold, digits)}"


def below(metric: str, value: float, threshold: float, digits: int = 2) -> str:
    """`metric=value<threshold`, e.g. `move_24h_pct=-12.40<-10.00`."""
    return f"{metric}={number(value, digits)}<{number(threshold, digits)}"


def make_verdict(guard: str, symbol: str, now_ns: int, findings: list[tuple[GuardLevel, str]]) -> GuardVerdict:
    """The verdict of a guard from its findings: the worst level, and the reasons of every finding
    above NORMAL in the order the guard checked them (so the output is deterministic)."""
    level = max((finding_level for finding_level, _ in findings), default=GuardLevel.NORMAL)
    reasons = tuple(reason for finding_level, reason in findings if finding_level > GuardLevel.NORMAL)
    return GuardVerdict(guard=guard, symbol=symbol, level=level, reasons=reasons, ts=now_ns)


def duration_label(seconds: int) -> str:
    """A short label for a window in reason codes: 300 -> "5m", 86400 -> "24h", 90 -> "90s"."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


_INTERVAL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def interval_seconds(interval: str) -> int | None:
    """Seconds in a Binance kline interval ("1m", "4h", "1d"); None for "1M" (months vary)."""
    unit = interval[-1:]
    count = interval[:-1]
    if unit not in _INTERVAL_UNITS or not count.isdigit():
        return None
    return int(count) * _INTERVAL_UNITS[unit]
