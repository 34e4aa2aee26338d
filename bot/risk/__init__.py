"""Risk: portfolio accounting, position sizing, limits, exits and the trading-state kill switch.

Pure: no I/O, no clock (time arrives as integer nanoseconds), money in Decimal.
"""

from bot.risk.decisions import (
    ALLOW_ALL,
    ExitIntent,
    ExitReason,
    Policy,
    PolicyAction,
    PolicyLike,
    RiskDecision,
    RiskReason,
)
from bot.risk.manager import RiskManager
from bot.risk.portfolio import DailyPnl, Portfolio, PortfolioError, PortfolioSnapshot
from bot.risk.settings import EquityFractionSizing, FixedQuoteSizing, RiskSettings
from bot.risk.state import StateTransition, TradingStateMachine

__all__ = [
    "ALLOW_ALL",
    "DailyPnl",
    "EquityFractionSizing",
    "ExitIntent",
    "ExitReason",
    "FixedQuoteSizing",
    "Policy",
    "PolicyAction",
    "PolicyLike",
    "Portfolio",
    "PortfolioError",
    "PortfolioSnapshot",
    "RiskDecision",
    "RiskManager",
    "RiskReason",
    "RiskSettings",
    "StateTransition",
    "TradingStateMachine",
]
