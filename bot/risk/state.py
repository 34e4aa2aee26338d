"""The account-wide kill switch: ACTIVE, REDUCING (exits only) or HALTED (nothing).

Commands (`halt`, `reduce`, `resume`) move the state at once and always win. The daily loss
limit moves it automatically: `observe` compares the UTC day's realized loss, fees included, with
`daily_loss_limit_quote` and with `daily_loss_limit_pct` of the day's starting equity, and halts
when either is exceeded.

The next-day rule (chosen): a halt *by the daily loss limit* lifts by itself at the first
`observe` of the next UTC day, because the limit is a per-day budget and the new day has a fresh
one; the state returns to what it was before that halt (ACTIVE, or REDUCING if an operator had
asked for it). A halt or a reduce *by command* stays until `resume`: an operator's decision is never
undone by the calendar. A same-day `resume` after a loss halt acknowledges the loss so far; the
limit trips again as soon as the day's loss grows past what was acknowledged.

Why realized loss and not equity drawdown: the limit should count money actually lost, not a
wick in an open position's mark (the stop-loss guards open positions). Why the day's starting
equity is "equity at the day's first observation minus the PnL the day had already realized": a
fill booked before the first observation must not move the base the percentage is taken of.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import msgspec

from bot.domain.trading import TradingState
from bot.risk.money import ZERO, divide, multiply, subtract
from bot.risk.portfolio import Portfolio
from bot.risk.settings import RiskSettings

HISTORY_LENGTH = 100
SNAPSHOT_VERSION = 1


# Who moved the switch: a command, the daily loss limit, or the calendar.
COMMAND = "command"
DAILY_LOSS_LIMIT = "daily_loss_limit"
NEXT_DAY = "next_day"


class StateTransition(msgspec.Struct, frozen=True, kw_only=True):
    """One change of state, for the log, metrics, alerts and the persisted history."""

    previous: TradingState
    state: TradingState
    cause: str  # COMMAND, DAILY_LOSS_LIMIT or NEXT_DAY
    reason: str
    ts: int


class TradingStateSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    state: TradingState
    cause: str
    reason: str
    since_ns: int
    day: str | None
    day_start_equity: Decimal | None
    acknowledged_loss: Decimal
    last_observed_loss: Decimal
    state_before_loss_halt: TradingState
    history: list[StateTransition]


class TradingStateMachine:
    def __init__(self, settings: RiskSettings, state: TradingState = TradingState.ACTIVE) -> None:
        self._settings = settings
        self._state = state
        self._cause = COMMAND
        self._reason = "initial state"
        self._since_ns = 0
        self._day: str | None = None
        self._day_start_equity: Decimal | None = None
        # The day's loss an operator accepted by resuming after a loss halt.
        self._acknowledged_loss = ZERO
        self._last_observed_loss = ZERO
        # Where the next UTC day returns to after a halt by the loss limit.
        self._state_before_loss_halt = TradingState.ACTIVE
        self._history: list[StateTransition] = []

    @property
    def limits_losses(self) -> bool:
        """True when a daily loss limit is configured; without one `observe` can change nothing
        but the day it tracks, so the engine need not call it."""
        return self._settings.daily_loss_limit_quote is not None or self._settings.daily_loss_limit_pct is not None

    @property
    def state(self) -> TradingState:
        return self._state

    @property
    def reason(self) -> str:
        return self._reason

    @property
    def cause(self) -> str:
        return self._cause

    @property
    def day_start_equity(self) -> Decimal | None:
        return self._day_start_equity

    @property
    def history(self) -> list[StateTransition]:
        return list(self._history)

    # ----- commands --------------------------------------------------------------------------

    def halt(self, reason: str, now_ns: int) -> StateTransition | None:
        return self._move(TradingState.HALTED, COMMAND, reason, now_ns)

    def reduce(self, reason: str, now_ns: int) -> StateTransition | None:
        return self._move(TradingState.REDUCING, COMMAND, reason, now_ns)

    def resume(self, now_ns: int, reason: str = "resumed by command") -> StateTransition | None:
        if self._state is TradingState.HALTED and self._cause == DAILY_LOSS_LIMIT:
            self._acknowledged_loss = self._last_observed_loss
        return self._move(TradingState.ACTIVE, COMMAND, reason, now_ns)

    # ----- the daily loss limit ----------------------------------------------------------------

    def observe(self, portfolio: Portfolio, marks: Mapping[str, Decimal], now_ns: int) -> StateTransition | None:
        """Call on every event the engine handles (after booking fills). Rolls the UTC day and
        applies the daily loss limit; returns the transition it made, if any."""
        equity = portfolio.equity(marks)
        daily = portfolio.daily_pnl(now_ns)
        rolled = None
        if daily.day != self._day:
            rolled = self._start_day(daily.day, subtract(equity, daily.net), now_ns)
        loss = -daily.net if daily.net < 0 else ZERO
        self._last_observed_loss = loss
        if self._state is TradingState.HALTED or loss <= self._acknowledged_loss:
            return rolled
        breach = self._breach(loss)
        if breach is None:
            return rolled
        self._state_before_loss_halt = self._state
        return self._move(TradingState.HALTED, DAILY_LOSS_LIMIT, breach, now_ns) or rolled

    def _start_day(self, day: str, start_equity: Decimal, now_ns: int) -> StateTransition | None:
        self._day = day
        self._day_start_equity = start_equity
        self._acknowledged_loss = ZERO
        if self._state is TradingState.HALTED and self._cause == DAILY_LOSS_LIMIT:
            return self._move(self._state_before_loss_halt, NEXT_DAY, f"new UTC day {day}: daily loss budget renewed", now_ns)
        return None

    def _breach(self, loss: Decimal) -> str | None:
        limit_quote = self._settings.daily_loss_limit_quote
        if limit_quote is not None and loss > limit_quote:
            return f"daily_loss={loss}>{limit_quote} {self._settings.quote_asset} on {self._day}"
        limit_pct = self._settings.daily_loss_limit_pct
        if limit_pct is not None and self._day_start_equity is not None and self._day_start_equity > 0:
            loss_pct = divide(multiply(loss, Decimal(100)), self._day_start_equity)
            if loss_pct > limit_pct:
                return f"daily_loss_pct={loss_pct:.4f}>{limit_pct} of day-start equity {self._day_start_equity} on {self._day}"
        return None

    def _move(self, state: TradingState, cause: str, reason: str, now_ns: int) -> StateTransition | None:
        if not reason:
            raise ValueError("every trading-state transition needs a reason")
        if state is self._state and cause == self._cause:
            return None
        transition = StateTransition(previous=self._state, state=state, cause=cause, reason=reason, ts=now_ns)
        self._state, self._cause, self._reason, self._since_ns = state, cause, reason, now_ns
        self._history = [*self._history[-(HISTORY_LENGTH - 1) :], transition]
        return transition

    # ----- persistence ---------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        return msgspec.json.encode(
            TradingStateSnapshot(
                version=SNAPSHOT_VERSION,
                state=self._state,
                cause=self._cause,
                reason=self._reason,
                since_ns=self._since_ns,
                day=self._day,
                day_start_equity=self._day_start_equity,
                acknowledged_loss=self._acknowledged_loss,
                last_observed_loss=self._last_observed_loss,
                state_before_loss_halt=self._state_before_loss_halt,
                history=self._history,
            )
        )

    @classmethod
    def restore(cls, settings: RiskSettings, data: bytes | str) -> TradingStateMachine:
        saved = msgspec.json.decode(data, type=TradingStateSnapshot)
        if saved.version != SNAPSHOT_VERSION:
            raise ValueError(f"trading-state snapshot version {saved.version} is not {SNAPSHOT_VERSION}")
        machine = cls(settings, saved.state)
        machine._cause, machine._reason, machine._since_ns = saved.cause, saved.reason, saved.since_ns
        machine._day, machine._day_start_equity = saved.day, saved.day_start_equity
        machine._acknowledged_loss = saved.acknowledged_loss
        machine._last_observed_loss = saved.last_observed_loss
        machine._state_before_loss_halt = saved.state_before_loss_halt
        machine._history = list(saved.history)
        return machine
