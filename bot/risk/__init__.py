"""Risk: portfolio accounting, position sizing, limits, exits and the trading-state kill switch.

Pure: no I/O, no clock (time arrives as integer nanoseconds), money in Decimal.

How the engine uses it, per market event of a symbol at price `price` and time `now_ns`:
  1. book every new fill: `portfolio.apply_fill(fill)`; after an entry's fill, attach the
     strategy's exits if the decision carried them: `portfolio.set_exit_prices(symbol, ...)`;
  2. `state_machine.observe(portfolio, marks, now_ns)` -> a StateTransition to log/alert, or None;
  3. `risk.check_exits(portfolio, symbol, price, now_ns, state_machine.state)` -> ExitIntents;
     send `intent.to_order_request()` (its id repeats while the position is open, so a
     repeated intent cannot double the order);
  4. for each strategy signal: `risk.assess(signal, policy, portfolio, price, now_ns,
     state_machine.state, marks=marks)`; send `decision.to_order_request()` when approved, log
     `decision.reason` / `decision.text` otherwise.
Persist `portfolio.snapshot()`, `state_machine.snapshot()` and `risk.snapshot()` (JSON bytes)
after changes; restore each with its `restore(...)` at start-up.
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
from bot.risk.settings import AllCashSizing, EquityFractionSizing, FixedQuoteSizing, RiskSettings
from bot.risk.state import StateTransition, TradingStateMachine

__all__ = [
    "ALLOW_ALL",
    "DailyPnl",
    "AllCashSizing",
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
