"""All guard settings in one model, mounted by the application as the config section `guards`."""

from __future__ import annotations

from bot.guards.base import GuardSettingsModel
from bot.guards.data_quality import DataQualitySettings
from bot.guards.extreme_move import ExtremeMoveSettings
from bot.guards.policy import PolicySettings
from bot.guards.pump_dump import PumpDumpSettings
from bot.guards.spread import SuspiciousSpreadSettings
from bot.guards.volume import AbnormalVolumeSettings
from bot.guards.wash_trading import WashTradingSettings


class GuardSettings(GuardSettingsModel):
    """One sub-section per guard (each with `enabled`), plus the policy that maps levels to actions."""

    extreme_move: ExtremeMoveSettings = ExtremeMoveSettings()
    abnormal_volume: AbnormalVolumeSettings = AbnormalVolumeSettings()
    suspicious_spread: SuspiciousSpreadSettings = SuspiciousSpreadSettings()
    pump_dump: PumpDumpSettings = PumpDumpSettings()
    wash_trading: WashTradingSettings = WashTradingSettings()
    data_quality: DataQualitySettings = DataQualitySettings()
    policy: PolicySettings = PolicySettings()
