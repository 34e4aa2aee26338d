"""RiskManager: every denial reason, every limit, sizing, guards' multipliers and the kill switch,
on real BTCUSDT/ETHUSDT prices (Binance 1m closes, 2025-09-22..25; tests/risk_support.py)."""

from __future__ import annotations

from decimal import ROUND_DOWN, Context, Decimal
from enum import Enum

import msgspec
import pytest
from risk_support import (
    SYMBOL,
    btcusdt_minutes,
    ethusdt_minutes,
    make_fill,
    make_signal,
)

from bot.domain.order_ids import client_order_id
from bot.domain.trading import OrderType, Side, SignalAction, TradingState
from bot.risk import (
    ALLOW_ALL,
    EquityFractionSizing,
    FixedQuoteSizing,
    Policy,
    PolicyAction,
    Portfolio,
    RiskDecision,
    RiskManager,
    RiskReason,
    RiskSettings,
)

D = Decimal
ACTIVE = TradingState.ACTIVE
# Risk sizes by dividing a quote value by the price, 34 significant digits, rounded down so the
# order never spends more than it was allowed.
SIZING = Context(prec=34, rounding=ROUND_DOWN)


@pytest.fixture
def minutes():
    return btcusdt_minutes()


def funded(amount: str = "10000") -> Portfolio:
    return Portfolio("USDT", {"USDT": D(amount)})


def buy(manager: RiskManager, portfolio: Portfolio, minute, policy=ALLOW_ALL, state=ACTIVE, symbol=SYMBOL, marks=None) -> RiskDecision:
    signal = make_signal(SignalAction.BUY, minute.ts, symbol=symbol)
    return manager.assess(signal, policy, portfolio, minute.close, minute.ts, state, marks=marks)


def hold_position(portfolio: Portfolio, minute, quantity: str, number: int = 1, symbol: str = SYMBOL) -> None:
    portfolio.apply_fill(make_fill(number, Side.BUY, minute.close, D(quantity), minute.ts, symbol=symbol))


def test_a_fixed_quote_entry_spends_the_amount_rounded_down(minutes) -> None:
    manager = RiskManager(RiskSettings(sizing=FixedQuoteSizing(amount=D("100"))))
    decision = buy(manager, funded(), minutes[0])
    assert (decision.approved, decision.reason, decision.side) == (True, RiskReason.APPROVED, Side.BUY)
    assert decision.quantity == SIZING.divide(D("100"), D("114660.0"))
    assert str(decision.quantity).startswith("0.000872143729286586")  # 100 / 114660.0
    assert decision.quantity * minutes[0].close <= D("100")
    assert decision.capped_by == ()
    assert not decision.reduce_only


def test_an_equity_fraction_entry_follows_equity_at_the_marks(minutes) -> None:
    manager = RiskManager(RiskSettings(sizing=EquityFractionSizing(fraction=D("0.05")), max_position_value=None, max_total_exposure=None))
    portfolio = funded()
    eth = ethusdt_minutes()
    hold_position(portfolio, eth[0], "0.5", symbol="ETHUSDT")
    marks = {"ETHUSDT": eth[2000].close}
    equity = portfolio.equity(marks)
    assert equity != D("10000")  # the ETH held moved with the market
    decision = buy(manager, portfolio, minutes[2000], marks=marks)
    assert decision.approved
    assert decision.quantity == SIZING.divide(equity * D("0.05"), minutes[2000].close)
    assert "0.05 of equity" in decision.text


def test_caution_shrinks_the_entry_by_the_guards_multiplier_and_never_grows_it(minutes) -> None:
    manager = RiskManager(RiskSettings())
    portfolio = funded()
    full = buy(manager, portfolio, minutes[0])
    half = buy(manager, portfolio, minutes[0], policy=Policy(action=PolicyAction.CAUTION, size_multiplier=D("0.5")))
    assert half.approved
    assert full.quantity == SIZING.divide(D("100"), minutes[0].close)
    assert half.quantity == SIZING.divide(D("50"), minutes[0].close)
    assert "guard multiplier 0.5 (CAUTION)" in half.text
    doubled = buy(manager, portfolio, minutes[0], policy=Policy(action=PolicyAction.MONITOR, size_multiplier=D("2")))
    assert doubled.quantity == full.quantity
    zero = buy(manager, portfolio, minutes[0], policy=Policy(action=PolicyAction.CAUTION, size_multiplier=D("0")))
    assert (zero.approved, zero.reason) == (False, RiskReason.GUARD_SIZE_ZERO)


def test_the_guards_own_enum_is_read_by_value(minutes) -> None:
    class GuardsPolicyAction(Enum):  # stands in for the guards' type: same values, other class
        AVOID = "AVOID"

    class GuardsOutcome(msgspec.Struct, frozen=True):
        action: GuardsPolicyAction
        size_multiplier: Decimal

    decision = buy(RiskManager(RiskSettings()), funded(), minutes[0], policy=GuardsOutcome(GuardsPolicyAction.AVOID, D(0)))
    assert (decision.approved, decision.reason) == (False, RiskReason.GUARD_AVOID)


def test_avoid_denies_entries_but_lets_a_position_be_closed(minutes) -> None:
    manager = RiskManager(RiskSettings())
    portfolio = funded()
    hold_position(portfolio, minutes[0], "0.003")
    avoid = Policy(action=PolicyAction.AVOID, size_multiplier=D(0))
    assert buy(manager, portfolio, minutes[1], policy=avoid).reason is RiskReason.GUARD_AVOID
    sell = manager.assess(make_signal(SignalAction.SELL, minutes[1].ts), avoid, portfolio, minutes[1].close, minutes[1].ts, ACTIVE)
    assert (sell.approved, sell.side, sell.quantity, sell.reduce_only) == (True, Side.SELL, D("0.003"), True)


def test_a_sell_closes_the_whole_position_with_a_deterministic_order(minutes) -> None:
    manager = RiskManager(RiskSettings())
    portfolio = funded()
    hold_position(portfolio, minutes[0], "0.001")
    hold_position(portfolio, minutes[1], "0.002", number=2)
    signal = make_signal(SignalAction.SELL, minutes[60].ts)
    decision = manager.assess(signal, ALLOW_ALL, portfolio, minutes[60].close, minutes[60].ts, ACTIVE)
    assert decision.quantity == D("0.003")
    order = decision.to_order_request()
    assert order.client_order_id == client_order_id("test_strategy", SYMBOL, "SELL", signal.trigger)
    assert (order.side, order.order_type, order.quantity, order.reduce_only, order.price) == (Side.SELL, OrderType.MARKET, D("0.003"), True, None)
    assert decision.to_order_request() == order
    # Booking the approved sell flattens the book exactly.
    portfolio.apply_fill(make_fill(3, Side.SELL, minutes[60].close, order.quantity, minutes[60].ts))
    assert portfolio.position(SYMBOL) is None


def test_selling_without_a_position_and_holding_are_not_orders(minutes) -> None:
    manager = RiskManager(RiskSettings())
    sell = manager.assess(make_signal(SignalAction.SELL, minutes[0].ts), ALLOW_ALL, funded(), minutes[0].close, minutes[0].ts, ACTIVE)
    assert (sell.approved, sell.reason, sell.quantity) == (False, RiskReason.NO_POSITION, 0)
    hold = manager.assess(make_signal(SignalAction.HOLD, minutes[0].ts, reason="flat trend"), ALLOW_ALL, funded(), minutes[0].close, minutes[0].ts, ACTIVE)
    assert (hold.approved, hold.reason, hold.side) == (False, RiskReason.HOLD, None)
    assert "flat trend" in hold.text
    with pytest.raises(ValueError, match="not approved"):
        hold.to_order_request()


def test_halted_denies_everything_and_reducing_allows_only_exits(minutes) -> None:
    manager = RiskManager(RiskSettings())
    portfolio = funded()
    hold_position(portfolio, minutes[0], "0.001")
    minute = minutes[1]
    sell_signal = make_signal(SignalAction.SELL, minute.ts)
    halted_buy = buy(manager, portfolio, minute, state=TradingState.HALTED)
    halted_sell = manager.assess(sell_signal, ALLOW_ALL, portfolio, minute.close, minute.ts, TradingState.HALTED)
    assert [(d.approved, d.reason) for d in (halted_buy, halted_sell)] == [(False, RiskReason.HALTED)] * 2
    reducing_buy = buy(manager, portfolio, minute, state=TradingState.REDUCING)
    reducing_sell = manager.assess(sell_signal, ALLOW_ALL, portfolio, minute.close, minute.ts, TradingState.REDUCING)
    assert (reducing_buy.approved, reducing_buy.reason) == (False, RiskReason.REDUCING_ONLY_EXITS)
    assert (reducing_sell.approved, reducing_sell.quantity) == (True, D("0.001"))


def test_max_open_positions_blocks_a_new_symbol_but_not_adding_to_a_held_one(minutes) -> None:
    manager = RiskManager(RiskSettings(max_open_positions=1))
    portfolio = funded()
    hold_position(portfolio, minutes[0], "0.001")
    eth = ethusdt_minutes()
    denied = buy(manager, portfolio, eth[1], symbol="ETHUSDT")
    assert (denied.approved, denied.reason) == (False, RiskReason.MAX_OPEN_POSITIONS)
    assert "1 positions open, the limit is 1" in denied.text
    assert buy(manager, portfolio, minutes[1]).approved


def test_max_position_value_caps_an_entry_then_denies_at_the_cap(minutes) -> None:
    manager = RiskManager(RiskSettings(sizing=FixedQuoteSizing(amount=D("100")), max_position_value=D("300")))
    portfolio = funded()
    hold_position(portfolio, minutes[0], "0.0025")  # 286.65 USDT at 114660.0
    minute = minutes[1]
    room = D("300") - D("0.0025") * minute.close  # the held BTC at the new price
    capped = buy(manager, portfolio, minute)
    assert capped.approved and capped.capped_by == (RiskReason.MAX_POSITION_VALUE,)
    assert capped.quantity == SIZING.divide(room, minute.close)
    hold_position(portfolio, minutes[2], "0.0001", number=2)  # now above 296, less than 5 USDT of room
    denied = buy(manager, portfolio, minutes[3])
    assert (denied.approved, denied.reason) == (False, RiskReason.MAX_POSITION_VALUE)
    assert "below the minimum order 5" in denied.text


def test_max_total_exposure_counts_every_position_at_its_mark(minutes) -> None:
    settings = RiskSettings(sizing=FixedQuoteSizing(amount=D("100")), max_position_value=None, max_total_exposure=D("1000"))
    manager = RiskManager(settings)
    portfolio = funded()
    eth = ethusdt_minutes()
    hold_position(portfolio, eth[0], "0.22", symbol="ETHUSDT")
    marks = {"ETHUSDT": eth[1].close}
    eth_value = D("0.22") * eth[1].close
    assert D("900") < eth_value < D("1000")
    capped = buy(manager, portfolio, minutes[1], marks=marks)
    assert capped.capped_by == (RiskReason.MAX_TOTAL_EXPOSURE,)
    assert capped.quantity == SIZING.divide(D("1000") - eth_value, minutes[1].close)
    hold_position(portfolio, eth[2], "0.02", number=2, symbol="ETHUSDT")
    denied = buy(manager, portfolio, minutes[2], marks={"ETHUSDT": eth[2].close})
    assert (denied.approved, denied.reason) == (False, RiskReason.MAX_TOTAL_EXPOSURE)


def test_the_cash_caps_an_entry_with_the_fee_reserved_then_denies(minutes) -> None:
    manager = RiskManager(RiskSettings(sizing=FixedQuoteSizing(amount=D("100"))))
    capped = buy(manager, funded("50.05"), minutes[0])
    assert capped.capped_by == (RiskReason.INSUFFICIENT_CASH,)
    assert capped.quantity == SIZING.divide(SIZING.divide(D("50.05"), D("1.001")), minutes[0].close)
    assert capped.quantity * minutes[0].close * D("1.001") <= D("50.05")  # fee included, it fits
    denied = buy(manager, funded("4"), minutes[0])
    assert (denied.approved, denied.reason) == (False, RiskReason.INSUFFICIENT_CASH)


def test_an_entry_below_the_minimum_order_value_and_a_foreign_quote_are_denied(minutes) -> None:
    manager = RiskManager(RiskSettings(sizing=FixedQuoteSizing(amount=D("3"))))
    small = buy(manager, funded(), minutes[0])
    assert (small.approved, small.reason) == (False, RiskReason.BELOW_MIN_ORDER_VALUE)
    foreign = buy(RiskManager(RiskSettings()), funded(), minutes[0], symbol="BTCEUR")
    assert (foreign.approved, foreign.reason) == (False, RiskReason.UNSUPPORTED_SYMBOL)


def test_a_non_positive_price_is_a_caller_error(minutes) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        RiskManager(RiskSettings()).assess(make_signal(SignalAction.BUY, 1), ALLOW_ALL, funded(), D(0), 1, ACTIVE)
