"""The trading-state kill switch: commands, the daily loss limit and the next-day rule, on real
BTCUSDT prices (the 2% slide of 2025-09-22 05:28-06:28 UTC; see tests/risk_support.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from risk_support import SYMBOL, btcusdt_minutes, make_fill

from bot.domain.trading import Side, TradingState
from bot.risk import Portfolio, RiskSettings, TradingStateMachine
from bot.risk.money import utc_day
from bot.risk.state import COMMAND, DAILY_LOSS_LIMIT, NEXT_DAY

D = Decimal
ENTRY = 253  # 2025-09-22 05:28 UTC, close 114548.87, the top of a one-hour slide


@pytest.fixture
def minutes():
    return btcusdt_minutes()


def slide_bottom(minutes) -> int:
    return min(range(ENTRY, ENTRY + 60), key=lambda index: minutes[index].close)


def losing_round_trip(portfolio: Portfolio, minutes, quantity: str = "0.01", first_number: int = 1) -> int:
    """Buy at the top of the slide, sell at its bottom; returns the index of the sell."""
    bottom = slide_bottom(minutes)
    portfolio.apply_fill(make_fill(first_number, Side.BUY, minutes[ENTRY].close, D(quantity), minutes[ENTRY].ts))
    portfolio.apply_fill(make_fill(first_number + 1, Side.SELL, minutes[bottom].close, D(quantity), minutes[bottom].ts))
    return bottom


def test_commands_move_the_switch_and_every_transition_has_a_reason() -> None:
    machine = TradingStateMachine(RiskSettings())
    assert machine.state is TradingState.ACTIVE
    reduced = machine.reduce("exchange maintenance at 06:00", 10)
    assert (reduced.previous, reduced.state, reduced.cause, reduced.reason, reduced.ts) == (
        TradingState.ACTIVE, TradingState.REDUCING, COMMAND, "exchange maintenance at 06:00", 10)
    halted = machine.halt("operator kill switch", 20)
    assert (halted.previous, halted.state) == (TradingState.REDUCING, TradingState.HALTED)
    assert machine.halt("operator kill switch again", 30) is None  # already halted by command
    resumed = machine.resume(40)
    assert (resumed.state, resumed.reason) == (TradingState.ACTIVE, "resumed by command")
    assert [transition.state for transition in machine.history] == [TradingState.REDUCING, TradingState.HALTED, TradingState.ACTIVE]
    with pytest.raises(ValueError, match="needs a reason"):
        machine.halt("", 50)


def test_a_realized_daily_loss_beyond_the_quote_limit_halts(minutes) -> None:
    settings = RiskSettings(daily_loss_limit_quote=D("20"))
    portfolio = Portfolio("USDT", {"USDT": D("10000")})
    machine = TradingStateMachine(settings)
    bottom = slide_bottom(minutes)

    portfolio.apply_fill(make_fill(1, Side.BUY, minutes[ENTRY].close, D("0.01"), minutes[ENTRY].ts))
    # An open position deep under water is the stop-loss's business, not the daily limit's.
    assert machine.observe(portfolio, {SYMBOL: minutes[bottom].close}, minutes[bottom].ts) is None
    assert portfolio.total_unrealized_pnl({SYMBOL: minutes[bottom].close}) < -D("20")
    assert machine.state is TradingState.ACTIVE

    portfolio.apply_fill(make_fill(2, Side.SELL, minutes[bottom].close, D("0.01"), minutes[bottom].ts))
    loss = -portfolio.daily_pnl(minutes[bottom].ts).net
    assert loss > D("20")  # the slide cost more than 2% of 1145 USDT plus two fees
    transition = machine.observe(portfolio, {}, minutes[bottom].ts)
    assert (transition.state, transition.cause) == (TradingState.HALTED, DAILY_LOSS_LIMIT)
    assert transition.reason == f"daily_loss={loss}>20 USDT on 2025-09-22"


def test_the_percentage_limit_is_of_the_day_start_equity(minutes) -> None:
    settings = RiskSettings(daily_loss_limit_pct=D("0.2"))  # 0.2% of 10000 = 20 USDT
    portfolio = Portfolio("USDT", {"USDT": D("10000")})
    machine = TradingStateMachine(settings)
    machine.observe(portfolio, {}, minutes[0].ts)
    assert machine.day_start_equity == D("10000")
    bottom = losing_round_trip(portfolio, minutes)
    transition = machine.observe(portfolio, {}, minutes[bottom].ts)
    assert transition.state is TradingState.HALTED
    assert transition.reason.startswith("daily_loss_pct=")
    assert "of day-start equity 10000" in transition.reason


def test_a_loss_booked_before_the_first_observation_does_not_move_the_day_start_equity(minutes) -> None:
    settings = RiskSettings(daily_loss_limit_pct=D("0.2"))
    portfolio = Portfolio("USDT", {"USDT": D("10000")})
    machine = TradingStateMachine(settings)
    bottom = losing_round_trip(portfolio, minutes)
    assert machine.observe(portfolio, {}, minutes[bottom].ts).state is TradingState.HALTED
    assert machine.day_start_equity == D("10000")


def test_a_loss_halt_lifts_on_the_next_utc_day_but_a_command_halt_does_not(minutes) -> None:
    settings = RiskSettings(daily_loss_limit_quote=D("20"))
    portfolio = Portfolio("USDT", {"USDT": D("10000")})
    machine = TradingStateMachine(settings)
    bottom = losing_round_trip(portfolio, minutes)
    machine.observe(portfolio, {}, minutes[bottom].ts)
    assert machine.state is TradingState.HALTED

    last_of_day = max(index for index, minute in enumerate(minutes) if utc_day(minute.ts) == "2025-09-22")
    assert machine.observe(portfolio, {}, minutes[last_of_day].ts) is None  # still Monday
    tuesday = minutes[last_of_day + 1]
    assert utc_day(tuesday.ts) == "2025-09-23"
    lifted = machine.observe(portfolio, {}, tuesday.ts)
    assert (lifted.state, lifted.cause) == (TradingState.ACTIVE, NEXT_DAY)
    assert lifted.reason == "new UTC day 2025-09-23: daily loss budget renewed"

    machine.halt("operator: investigate the losses", tuesday.ts)
    wednesday = next(minute for minute in minutes if utc_day(minute.ts) == "2025-09-24")
    assert machine.observe(portfolio, {}, wednesday.ts) is None
    assert (machine.state, machine.cause) == (TradingState.HALTED, COMMAND)


def test_an_operator_who_halts_during_a_loss_halt_keeps_it_past_midnight(minutes) -> None:
    machine = TradingStateMachine(RiskSettings(daily_loss_limit_quote=D("20")))
    portfolio = Portfolio("USDT", {"USDT": D("10000")})
    bottom = losing_round_trip(portfolio, minutes)
    machine.observe(portfolio, {}, minutes[bottom].ts)
    made_sticky = machine.halt("operator: keep it off", minutes[bottom].ts + 1)
    assert (made_sticky.previous, made_sticky.state, made_sticky.cause) == (TradingState.HALTED, TradingState.HALTED, COMMAND)
    tuesday = next(minute for minute in minutes if utc_day(minute.ts) == "2025-09-23")
    assert machine.observe(portfolio, {}, tuesday.ts) is None
    assert machine.state is TradingState.HALTED


def test_a_same_day_resume_accepts_the_loss_so_far_and_any_further_loss_halts_again(minutes) -> None:
    machine = TradingStateMachine(RiskSettings(daily_loss_limit_quote=D("20")))
    portfolio = Portfolio("USDT", {"USDT": D("10000")})
    bottom = losing_round_trip(portfolio, minutes)
    machine.observe(portfolio, {}, minutes[bottom].ts)
    machine.resume(minutes[bottom].ts + 1, "operator: loss understood")
    assert machine.observe(portfolio, {}, minutes[bottom + 1].ts) is None
    assert machine.state is TradingState.ACTIVE

    # Another real round trip later the same day: buy 09:35, sell at the day's last minute.
    buy, sell = minutes[500], minutes[1000]
    assert utc_day(sell.ts) == "2025-09-22" and sell.close < buy.close
    portfolio.apply_fill(make_fill(10, Side.BUY, buy.close, D("0.001"), buy.ts))
    portfolio.apply_fill(make_fill(11, Side.SELL, sell.close, D("0.001"), sell.ts))
    again = machine.observe(portfolio, {}, sell.ts)
    assert (again.state, again.cause) == (TradingState.HALTED, DAILY_LOSS_LIMIT)


def test_after_a_loss_halt_the_next_day_returns_to_reducing_if_that_was_commanded(minutes) -> None:
    machine = TradingStateMachine(RiskSettings(daily_loss_limit_quote=D("20")))
    portfolio = Portfolio("USDT", {"USDT": D("10000")})
    machine.reduce("operator: wind down", minutes[0].ts)
    bottom = losing_round_trip(portfolio, minutes)
    assert machine.observe(portfolio, {}, minutes[bottom].ts).state is TradingState.HALTED
    tuesday = next(minute for minute in minutes if utc_day(minute.ts) == "2025-09-23")
    assert machine.observe(portfolio, {}, tuesday.ts).state is TradingState.REDUCING


def test_snapshot_round_trip_keeps_the_halt_and_its_next_day_rule(minutes) -> None:
    settings = RiskSettings(daily_loss_limit_quote=D("20"))
    machine = TradingStateMachine(settings)
    portfolio = Portfolio("USDT", {"USDT": D("10000")})
    bottom = losing_round_trip(portfolio, minutes)
    machine.observe(portfolio, {}, minutes[bottom].ts)
    data = machine.snapshot()

    restored = TradingStateMachine.restore(settings, data)
    assert restored.snapshot() == data
    assert (restored.state, restored.cause, restored.reason) == (machine.state, machine.cause, machine.reason)
    assert restored.history == machine.history
    tuesday = next(minute for minute in minutes if utc_day(minute.ts) == "2025-09-23")
    assert restored.observe(portfolio, {}, tuesday.ts).state is TradingState.ACTIVE
    # A resume right after restoring still knows the loss it is accepting.
    again = TradingStateMachine.restore(settings, data)
    again.resume(minutes[bottom].ts + 1)
    assert again.observe(portfolio, {}, minutes[bottom].ts + 2) is None
