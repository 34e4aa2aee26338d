"""Stop-loss, take-profit and the cooldown after a stop, walked minute by minute over real
BTCUSDT closes (tests/risk_support.py): the 2% slide after 2025-09-22 05:28 UTC and the rebound
from the low of 2025-09-24."""

from __future__ import annotations

from decimal import Decimal, localcontext

import msgspec
import pytest
from risk_support import SYMBOL, btcusdt_minutes, make_fill, make_signal

from bot.domain.order_ids import client_order_id
from bot.domain.trading import Side, SignalAction, TradingState
from bot.risk import (
    ALLOW_ALL,
    ExitReason,
    Portfolio,
    RiskManager,
    RiskReason,
    RiskSettings,
)
from bot.risk.money import utc_day

D = Decimal
SLIDE_TOP = 253  # 2025-09-22 05:28 UTC, close 114548.87
ACTIVE = TradingState.ACTIVE


@pytest.fixture
def minutes():
    return btcusdt_minutes()


def entered(minute, quantity: str = "0.001") -> Portfolio:
    portfolio = Portfolio("USDT", {"USDT": D("10000")})
    portfolio.apply_fill(make_fill(1, Side.BUY, minute.close, D(quantity), minute.ts))
    return portfolio


def first_exit(manager: RiskManager, portfolio: Portfolio, minutes, start: int, state=ACTIVE):
    for minute in minutes[start + 1 :]:
        intents = manager.check_exits(portfolio, SYMBOL, minute.close, minute.ts, state)
        if intents:
            return minute, intents
    return None, []


def test_the_stop_loss_fires_at_the_first_close_through_the_stop_then_cools_down(minutes) -> None:
    manager = RiskManager(RiskSettings(stop_loss_pct=D("2"), stop_loss_cooldown_seconds=900))
    portfolio = entered(minutes[SLIDE_TOP])
    stop = D("114548.87") * D("0.98")
    minute, intents = first_exit(manager, portfolio, minutes, SLIDE_TOP)

    assert [intent.reason for intent in intents] == [ExitReason.STOP_LOSS]
    intent = intents[0]
    assert minute.close <= stop
    assert all(earlier.close > stop for earlier in minutes[SLIDE_TOP + 1 : minute.index])
    assert minute.index - SLIDE_TOP < 60  # inside the hour of the slide
    assert (intent.side, intent.quantity, intent.trigger_price, intent.price) == (Side.SELL, D("0.001"), stop, minute.close)
    assert manager.cooldown_until(SYMBOL) == minute.ts + 900 * 1_000_000_000

    portfolio.apply_fill(make_fill(2, Side.SELL, minute.close, intent.quantity, minute.ts))
    assert portfolio.position(SYMBOL) is None
    signal_at = minutes[minute.index + 5]
    again = manager.assess(make_signal(SignalAction.BUY, signal_at.ts), ALLOW_ALL, portfolio, signal_at.close, signal_at.ts, ACTIVE)
    assert (again.approved, again.reason) == (False, RiskReason.COOLDOWN)
    assert "another 600 s" in again.text  # 15 minutes less the 5 that passed
    later = minutes[minute.index + 15]
    assert later.ts == minute.ts + 900 * 1_000_000_000  # the cooldown ends exactly here
    assert manager.assess(make_signal(SignalAction.BUY, later.ts), ALLOW_ALL, portfolio, later.close, later.ts, ACTIVE).approved


def test_the_strategys_own_stop_wins_over_the_percentage(minutes) -> None:
    manager = RiskManager(RiskSettings(stop_loss_pct=D("2")))
    portfolio = entered(minutes[SLIDE_TOP])
    tight_stop = D("114000")  # the strategy's, tighter than 2% (112257.89)
    portfolio.set_exit_prices(SYMBOL, tight_stop, None)
    minute, intents = first_exit(manager, portfolio, minutes, SLIDE_TOP)
    assert intents[0].trigger_price == tight_stop
    assert minute.close <= tight_stop < minutes[minute.index - 1].close
    assert minute.close > D("114548.87") * D("0.98")  # the percentage alone would not have fired


def test_the_take_profit_fires_on_the_rebound_by_percentage_or_by_the_strategys_price(minutes) -> None:
    day_low = min((minute for minute in minutes if utc_day(minute.ts) == "2025-09-24"), key=lambda minute: minute.close)
    manager = RiskManager(RiskSettings(take_profit_pct=D("1")))
    portfolio = entered(day_low)
    target = day_low.close * D("1.01")
    minute, intents = first_exit(manager, portfolio, minutes, day_low.index)
    assert [intent.reason for intent in intents] == [ExitReason.TAKE_PROFIT]
    assert minute.close >= target > minutes[minute.index - 1].close
    assert manager.cooldown_until(SYMBOL) is None  # only a stop-loss cools down

    strategy_target = day_low.close + D("500")
    portfolio.set_exit_prices(SYMBOL, None, strategy_target)
    minute, intents = first_exit(manager, portfolio, minutes, day_low.index)
    assert intents[0].trigger_price == strategy_target
    assert minute.close >= strategy_target > minutes[minute.index - 1].close


def test_no_take_profit_without_a_percentage_or_a_price(minutes) -> None:
    manager = RiskManager(RiskSettings(take_profit_pct=None, stop_loss_pct=D("50")))
    day_low = min((minute for minute in minutes if utc_day(minute.ts) == "2025-09-24"), key=lambda minute: minute.close)
    assert first_exit(manager, entered(day_low), minutes, day_low.index) == (None, [])


def test_halted_sends_no_exit_and_reducing_still_does(minutes) -> None:
    manager = RiskManager(RiskSettings(stop_loss_pct=D("2")))
    portfolio = entered(minutes[SLIDE_TOP])
    assert first_exit(manager, portfolio, minutes[: SLIDE_TOP + 60], SLIDE_TOP, TradingState.HALTED) == (None, [])
    assert manager.cooldown_until(SYMBOL) is None
    _, intents = first_exit(manager, portfolio, minutes, SLIDE_TOP, TradingState.REDUCING)
    assert intents[0].reason is ExitReason.STOP_LOSS


def test_repeating_an_exit_asks_for_the_same_order_id(minutes) -> None:
    manager = RiskManager(RiskSettings(stop_loss_pct=D("2")))
    portfolio = entered(minutes[SLIDE_TOP])
    minute, intents = first_exit(manager, portfolio, minutes, SLIDE_TOP)
    next_minute = minutes[minute.index + 1]
    repeated = manager.check_exits(portfolio, SYMBOL, min(next_minute.close, minute.close), next_minute.ts)
    order, repeated_order = intents[0].to_order_request(), repeated[0].to_order_request()
    assert order.client_order_id == repeated_order.client_order_id
    assert order.client_order_id == client_order_id("risk", SYMBOL, "SELL", f"stop_loss:{minutes[SLIDE_TOP].ts}")
    assert (order.reduce_only, order.quantity, order.strategy) == (True, D("0.001"), "risk")


def test_the_cooldown_survives_a_snapshot_and_restore(minutes) -> None:
    settings = RiskSettings(stop_loss_pct=D("2"))
    manager = RiskManager(settings)
    portfolio = entered(minutes[SLIDE_TOP])
    first_exit(manager, portfolio, minutes, SLIDE_TOP)
    assert manager.cooldown_until(SYMBOL) is not None
    restored = RiskManager.restore(settings, manager.snapshot())
    assert restored.cooldown_until(SYMBOL) == manager.cooldown_until(SYMBOL)
    assert restored.snapshot() == manager.snapshot()
    assert RiskManager.restore(settings, RiskManager(settings).snapshot()).cooldown_until(SYMBOL) is None


def run_day(settings: RiskSettings) -> bytes:
    """A whole real UTC day through risk: a buy signal every 90 minutes, a sell signal every
    7 hours, exits checked on every close, approved orders filled at the close with a 0.1% fee.
    Returns every decision, exit and the final books, encoded."""
    manager, portfolio = RiskManager(settings), Portfolio("USDT", {"USDT": D("2000")})
    records: list[object] = []
    fills = 0
    for minute in btcusdt_minutes():
        if utc_day(minute.ts) != "2025-09-23":
            continue
        intents = manager.check_exits(portfolio, SYMBOL, minute.close, minute.ts)
        records.extend(intents)
        orders = [intent.to_order_request() for intent in intents]
        minute_of_day = (minute.ts // 60_000_000_000) % 1440
        action = SignalAction.BUY if minute_of_day % 90 == 0 else SignalAction.SELL if minute_of_day % 420 == 0 else None
        if action is not None and not orders:
            decision = manager.assess(make_signal(action, minute.ts), ALLOW_ALL, portfolio, minute.close, minute.ts, ACTIVE)
            records.append(decision)
            if decision.approved:
                orders.append(decision.to_order_request())
        for order in orders:
            fills += 1
            portfolio.apply_fill(make_fill(fills, order.side, minute.close, order.quantity, minute.ts))
    return msgspec.json.encode([records, msgspec.json.decode(portfolio.snapshot())])


def test_the_same_day_replayed_gives_byte_identical_decisions_and_books() -> None:
    settings = RiskSettings(stop_loss_pct=D("0.3"), take_profit_pct=D("0.3"), max_position_value=D("250"), stop_loss_cooldown_seconds=3600)
    first, second = run_day(settings), run_day(settings)
    assert first == second
    decoded = msgspec.json.decode(first)
    reasons = {record["reason"] for record in decoded[0]}
    # The day really went through entries, both exits, a limit, the cooldown and an empty sell.
    assert reasons == {"approved", "stop_loss", "take_profit", "max_position_value", "cooldown", "no_position"}
    books = decoded[1]
    with localcontext(prec=100):  # the books carry ~40 digits; check them without rounding
        open_cost = sum((D(cost) for cost in books["cost_basis"].values()), D(0))
        assert D(books["cash"]["USDT"]) == D("2000") + D(books["realized_pnl"]) - D(books["fees_paid"]) - open_cost


def test_a_guard_exit_closes_the_whole_position_with_a_stable_id_and_not_when_halted(minutes) -> None:
    manager = RiskManager(RiskSettings())
    portfolio = entered(minutes[SLIDE_TOP])
    later = minutes[SLIDE_TOP + 5]
    reasons = ("extreme_move:move_5m_pct=-4.21<-3.00",)
    intent = manager.guard_exit(portfolio, SYMBOL, later.close, later.ts, reasons)
    again = manager.guard_exit(portfolio, SYMBOL, minutes[SLIDE_TOP + 6].close, minutes[SLIDE_TOP + 6].ts, reasons)
    assert intent is not None and again is not None
    assert (intent.reason, intent.side, intent.quantity, intent.text) == (ExitReason.GUARD, Side.SELL, D("0.001"), reasons[0])
    assert intent.trigger == f"guard:{portfolio.position(SYMBOL).ts_opened}"
    assert intent.to_order_request().client_order_id == again.to_order_request().client_order_id
    assert manager.guard_exit(portfolio, SYMBOL, later.close, later.ts, reasons, TradingState.HALTED) is None
    assert manager.guard_exit(Portfolio("USDT", {"USDT": D("1")}), SYMBOL, later.close, later.ts, reasons) is None
