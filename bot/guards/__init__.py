"""Anomaly guards (pure): per-symbol detectors fed market events, and the policy over their verdicts.

Wiring: `guards = build_guards(symbol, settings.guards)` once per symbol; `guard.observe(event)` for
every market event of that symbol; at decision time
`evaluate_policy([guard.verdict(now_ns) for guard in guards], signal.action, settings.guards.policy)`.
"""

from __future__ import annotations

from bot.guards.base import Escalation, Guard
from bot.guards.data_quality import DataQualityGuard, DataQualitySettings
from bot.guards.extreme_move import ExtremeMoveGuard, ExtremeMoveSettings, MoveWindow
from bot.guards.policy import (
    GuardAction,
    PolicyOutcome,
    PolicySettings,
    evaluate_policy,
)
from bot.guards.pump_dump import PumpDumpGuard, PumpDumpSettings
from bot.guards.settings import GuardSettings
from bot.guards.spread import SuspiciousSpreadGuard, SuspiciousSpreadSettings
from bot.guards.volume import AbnormalVolumeGuard, AbnormalVolumeSettings
from bot.guards.wash_trading import WashTradingGuard, WashTradingSettings


def build_guards(symbol: str, settings: GuardSettings | None = None) -> list[Guard]:
    """Every enabled guard for `symbol`, in a fixed order (so verdict lists are deterministic)."""
    settings = settings or GuardSettings()
    candidates: list[tuple[bool, Guard]] = [
        (settings.data_quality.enabled, DataQualityGuard(symbol, settings.data_quality)),
        (settings.extreme_move.enabled, ExtremeMoveGuard(symbol, settings.extreme_move)),
        (settings.abnormal_volume.enabled, AbnormalVolumeGuard(symbol, settings.abnormal_volume)),
        (settings.suspicious_spread.enabled, SuspiciousSpreadGuard(symbol, settings.suspicious_spread)),
        (settings.pump_dump.enabled, PumpDumpGuard(symbol, settings.pump_dump)),
        (settings.wash_trading.enabled, WashTradingGuard(symbol, settings.wash_trading)),
    ]
    return [guard for enabled, guard in candidates if enabled]


__all__ = [
    "AbnormalVolumeGuard", "AbnormalVolumeSettings", "DataQualityGuard", "DataQualitySettings", "Escalation",
    "ExtremeMoveGuard", "ExtremeMoveSettings", "Guard", "GuardAction", "GuardSettings", "MoveWindow",
    "PolicyOutcome", "PolicySettings", "PumpDumpGuard", "PumpDumpSettings", "SuspiciousSpreadGuard",
    "SuspiciousSpreadSettings", "WashTradingGuard", "WashTradingSettings", "build_guards", "evaluate_policy",
]
