"""The guard policy: from the verdicts of a symbol's guards to one action and one recommendation.

    CRITICAL -> AVOID    no new entries (and, if configured, close the open position)
    HIGH     -> CAUTION  entries allowed at `caution_size_multiplier` of their size
    MODERATE -> MONITOR  alert only; entries allowed at full size
    LOW, NORMAL -> ALLOW entries allowed; the signal decides the recommendation

Pure: the engine applies the outcome (risk scales the size, the alerts module sends the reasons).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from enum import StrEnum

import msgspec
from pydantic import Field

from bot.domain.trading import GuardLevel, GuardVerdict, Recommendation, SignalAction
from bot.guards.base import GuardSettingsModel


class GuardAction(StrEnum):
    ALLOW = "ALLOW"
    MONITOR = "MONITOR"
    CAUTION = "CAUTION"
    AVOID = "AVOID"


class PolicySettings(GuardSettingsModel):
    caution_size_multiplier: Decimal = Field(
        Decimal("0.5"), gt=0, le=1, description="share of the normal order size allowed while a guard is HIGH"
    )
    close_position_on_critical: bool = Field(
        False, description="also ask to close an open position when a guard is CRITICAL (not only block entries)"
    )


class PolicyOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What the guards allow for one symbol now.

    `reasons` are the reasons of every verdict above NORMAL, each prefixed with its guard's name
    (`extreme_move:move_5m_pct=4.21>3.00`), worst verdicts first, so the first line of an alert
    says what matters most.
    """

    level: GuardLevel
    action: GuardAction
    recommendation: Recommendation
    allow_entries: bool
    size_multiplier: Decimal
    close_position: bool
    reasons: tuple[str, ...] = ()


DEFAULT_POLICY = PolicySettings()


def evaluate_policy(
    verdicts: Iterable[GuardVerdict], signal_action: SignalAction | None, settings: PolicySettings = DEFAULT_POLICY
) -> PolicyOutcome:
    verdicts = list(verdicts)
    level = max((verdict.level for verdict in verdicts), default=GuardLevel.NORMAL)
    # A stable sort: equal levels keep the order the guards were given in (deterministic).
    flagged = sorted((verdict for verdict in verdicts if verdict.level > GuardLevel.NORMAL), key=lambda verdict: -verdict.level)
    reasons = tuple(f"{verdict.guard}:{reason}" for verdict in flagged for reason in verdict.reasons)
    if level == GuardLevel.CRITICAL:
        return PolicyOutcome(level=level, action=GuardAction.AVOID, recommendation=Recommendation.AVOID,
                             allow_entries=False, size_multiplier=Decimal(0),
                             close_position=settings.close_position_on_critical, reasons=reasons)
    if level == GuardLevel.HIGH:
        return PolicyOutcome(level=level, action=GuardAction.CAUTION, recommendation=Recommendation.CAUTION,
                             allow_entries=True, size_multiplier=settings.caution_size_multiplier,
                             close_position=False, reasons=reasons)
    if level == GuardLevel.MODERATE:
        return PolicyOutcome(level=level, action=GuardAction.MONITOR, recommendation=Recommendation.MONITOR,
                             allow_entries=True, size_multiplier=Decimal(1), close_position=False, reasons=reasons)
    if signal_action == SignalAction.BUY:
        recommendation = Recommendation.BUY_RECOMMENDED
    elif signal_action == SignalAction.SELL:
        recommendation = Recommendation.SELL_RECOMMENDED
    else:
        recommendation = Recommendation.MONITOR
    return PolicyOutcome(level=level, action=GuardAction.ALLOW, recommendation=recommendation, allow_entries=True,
                         size_multiplier=Decimal(1), close_position=False, reasons=reasons)
