"""Portfolio accounting on real BTCUSDT prices (Binance 1m closes, 2025-09-22..25; see
tests/risk_support.py). Expected figures are worked out by hand from those prices."""

from __future__ import annotations

from decimal import Decimal

import pytest
from risk_support import SYMBOL, btcusdt_minutes, make_fill

from bot.domain.trading import Side
from bot.risk import Portfolio, PortfolioError
from bot.risk.money import utc_day

D = Decimal


@pytest.fixture
def minutes():
    return btcusdt_minutes()


def test_buys_and_sells_book_cash_average_price_and_pnl_exactly(minutes) -> None:
    portfolio = Portfolio("USDT", {"USDT": D("10000")})
    first, second, third, fourth = minutes[0], minutes[1], minutes[100], minutes[1500]
    assert (first.close, second.close, third.close, fourth.close) == (D("114660.0"), D("114584.01"), D("114238.58"), D("112324.92"))

    portfolio.apply_fill(make_fill(1, Side.BUY, first.close, D("0.001"), first.ts))
    assert portfolio.cash() == D("9885.2253400")  # 10000 - 114.66 - fee 0.11466
    portfolio.apply_fill(make_fill(2, Side.BUY, second.close, D("0.002"), second.ts))
    position = portfolio.position(SYMBOL)
    assert position.quantity == D("0.003")
    assert portfolio.cost_basis(SYMBOL) == D("343.82802")
    assert position.average_price == D("114609.34")  # 343.82802 / 0.003, exact
    assert position.fees_paid == D("0.34382802")
    assert portfolio.cash() == D("9655.82815198")

    portfolio.apply_fill(make_fill(3, Side.SELL, third.close, D("0.0015"), third.ts))
    position = portfolio.position(SYMBOL)
    assert position.quantity == D("0.0015")
    assert position.average_price == D("114609.34")  # a sell leaves the average alone
    assert position.realized_pnl == D("-0.55614")  # 171.35787 - 171.91401
    assert portfolio.cash() == D("9827.01466411")  # + 171.35787 - fee 0.17135787

    portfolio.apply_fill(make_fill(4, Side.SELL, fourth.close, D("0.0015"), fourth.ts))
    assert portfolio.position(SYMBOL) is None
    assert portfolio.open_position_count == 0
    assert portfolio.realized_pnl == D("-3.98277")  # proceeds 339.84525 - cost 343.82802
    assert portfolio.fees_paid == D("0.68367327")
    assert portfolio.cash() == D("9995.33355673")
    # Nothing leaks: the cash moved by exactly realized PnL minus fees.
    assert portfolio.cash() == D("10000") + portfolio.realized_pnl - portfolio.fees_paid


def test_uneven_partial_sells_still_realize_exactly_proceeds_minus_cost(minutes) -> None:
    portfolio = Portfolio("USDT", {"USDT": D("5000")})
    buys = [(minutes[10], D("0.00037")), (minutes[11], D("0.00041")), (minutes[12], D("0.00029"))]
    sells = [(minutes[300], D("0.00033")), (minutes[301], D("0.00031")), (minutes[302], D("0.00043"))]
    number = 0
    for minute, quantity in buys:
        number += 1
        portfolio.apply_fill(make_fill(number, Side.BUY, minute.close, quantity, minute.ts, fee=D(0)))
    cost = sum((minute.close * quantity for minute, quantity in buys), D(0))
    assert portfolio.cost_basis(SYMBOL) == cost
    for minute, quantity in sells[:-1]:
        number += 1
        portfolio.apply_fill(make_fill(number, Side.SELL, minute.close, quantity, minute.ts, fee=D(0)))
    # A third of the basis is not a terminating decimal: the partial sells had to round...
    assert portfolio.position(SYMBOL).quantity == D("0.00043")
    number += 1
    minute, quantity = sells[-1]
    portfolio.apply_fill(make_fill(number, Side.SELL, minute.close, quantity, minute.ts, fee=D(0)))
    # ...yet closing the position leaves no residue: realized is exactly proceeds minus cost.
    proceeds = sum((minute.close * quantity for minute, quantity in sells), D(0))
    assert portfolio.realized_pnl == proceeds - cost
    assert portfolio.cash() == D("5000") - cost + proceeds


def test_daily_realized_pnl_follows_the_utc_day_of_each_fill(minutes) -> None:
    portfolio = Portfolio("USDT", {"USDT": D("10000")})
    buy, sell_same_day, sell_next_day = minutes[0], minutes[100], minutes[1500]
    assert (utc_day(buy.ts), utc_day(sell_same_day.ts), utc_day(sell_next_day.ts)) == ("2025-09-22", "2025-09-22", "2025-09-23")
    portfolio.apply_fill(make_fill(1, Side.BUY, buy.close, D("0.002"), buy.ts))
    portfolio.apply_fill(make_fill(2, Side.SELL, sell_same_day.close, D("0.001"), sell_same_day.ts))
    portfolio.apply_fill(make_fill(3, Side.SELL, sell_next_day.close, D("0.001"), sell_next_day.ts))

    monday = portfolio.daily_pnl(buy.ts)
    assert monday.realized_pnl == (D("114238.58") - D("114660.0")) * D("0.001")
    assert monday.fees == D("0.22932") + D("0.11423858")
    assert monday.net == monday.realized_pnl - monday.fees
    tuesday = portfolio.daily_pnl(sell_next_day.ts)
    assert tuesday.realized_pnl == (D("112324.92") - D("114660.0")) * D("0.001")
    assert tuesday.fees == D("0.11232492")
    assert portfolio.daily_pnl(minutes[-1].ts).realized_pnl == 0  # 2025-09-25: nothing happened
    assert [daily.day for daily in portfolio.daily_history] == ["2025-09-22", "2025-09-23"]


def test_utc_day_changes_exactly_at_midnight() -> None:
    midnight = 1758585600 * 1_000_000_000  # 2025-09-23T00:00:00Z
    assert utc_day(midnight - 1) == "2025-09-22"
    assert utc_day(midnight) == "2025-09-23"


def test_selling_more_than_held_is_an_error_and_changes_nothing(minutes) -> None:
    portfolio = Portfolio("USDT", {"USDT": D("1000")})
    with pytest.raises(PortfolioError, match="only 0 held"):
        portfolio.apply_fill(make_fill(1, Side.SELL, minutes[0].close, D("0.001"), minutes[0].ts))
    portfolio.apply_fill(make_fill(2, Side.BUY, minutes[0].close, D("0.001"), minutes[0].ts))
    before = portfolio.snapshot()
    with pytest.raises(PortfolioError, match="sells 0.0011 BTCUSDT, only 0.001 held"):
        portfolio.apply_fill(make_fill(3, Side.SELL, minutes[5].close, D("0.0011"), minutes[5].ts))
    assert portfolio.snapshot() == before
    # The refused fill was not remembered as booked: a corrected replay of the id would book.
    assert portfolio.apply_fill(make_fill(3, Side.SELL, minutes[5].close, D("0.001"), minutes[5].ts)) is True


def test_a_buy_the_cash_cannot_pay_is_refused(minutes) -> None:
    portfolio = Portfolio("USDT", {"USDT": D("100")})
    with pytest.raises(PortfolioError, match="only 100 held"):
        portfolio.apply_fill(make_fill(1, Side.BUY, minutes[0].close, D("0.001"), minutes[0].ts))
    assert portfolio.cash() == D("100")
    assert portfolio.position(SYMBOL) is None


def test_a_fill_delivered_twice_is_booked_once(minutes) -> None:
    portfolio = Portfolio("USDT", {"USDT": D("1000")})
    fill = make_fill(1, Side.BUY, minutes[0].close, D("0.001"), minutes[0].ts)
    assert portfolio.apply_fill(fill) is True
    assert portfolio.apply_fill(fill) is False
    assert portfolio.position(SYMBOL).quantity == D("0.001")
    assert portfolio.cash() == D("885.2253400")


def test_a_buy_fee_in_the_base_asset_shrinks_the_quantity_and_is_valued_at_the_fill_price(minutes) -> None:
    portfolio = Portfolio("USDT", {"USDT": D("1000")})
    minute = minutes[0]
    portfolio.apply_fill(make_fill(1, Side.BUY, minute.close, D("0.001"), minute.ts, fee=D("0.000001"), fee_asset="BTC"))
    position = portfolio.position(SYMBOL)
    assert position.quantity == D("0.000999")
    assert position.average_price == minute.close  # the fee is not folded into the price
    assert position.fees_paid == D("0.1146600")  # 0.000001 BTC at 114660.0
    assert portfolio.cash() == D("1000") - D("114.6600")  # the exchange took the fee in coins


def test_fees_in_an_unknown_asset_or_a_foreign_quote_are_refused(minutes) -> None:
    portfolio = Portfolio("USDT", {"USDT": D("1000")})
    minute = minutes[0]
    with pytest.raises(PortfolioError, match="fee asset BNB"):
        portfolio.apply_fill(make_fill(1, Side.BUY, minute.close, D("0.001"), minute.ts, fee=D("0.0002"), fee_asset="BNB"))
    with pytest.raises(PortfolioError, match="ETHBTC is not quoted in USDT"):
        portfolio.apply_fill(make_fill(2, Side.BUY, D("0.03"), D("1"), minute.ts, symbol="ETHBTC"))
    assert portfolio.cash() == D("1000")


def test_equity_exposure_and_unrealized_pnl_follow_the_marks(minutes) -> None:
    portfolio = Portfolio("USDT", {"USDT": D("1000")})
    entry, later = minutes[0], minutes[2000]
    portfolio.apply_fill(make_fill(1, Side.BUY, entry.close, D("0.002"), entry.ts, fee=D(0)))
    marks = {SYMBOL: later.close}
    assert later.close == D("112935.03")
    assert portfolio.exposure(SYMBOL, marks) == D("225.87006")
    assert portfolio.exposures(marks) == {SYMBOL: D("225.87006")}
    assert portfolio.total_exposure(marks) == D("225.87006")
    assert portfolio.unrealized_pnl(SYMBOL, marks) == D("225.87006") - D("229.3200")
    assert portfolio.total_unrealized_pnl(marks) == D("-3.44994")
    assert portfolio.equity(marks) == D("1000") - D("229.3200") + D("225.87006")
    # Without a mark the position counts at cost: no invented profit or loss.
    assert portfolio.equity({}) == D("1000")
    assert portfolio.exposure("ETHUSDT", marks) == 0


def test_snapshot_restores_the_same_books_and_they_keep_trading_identically(minutes) -> None:
    portfolio = Portfolio("USDT", {"USDT": D("10000"), "BNB": D("0.5")})
    portfolio.apply_fill(make_fill(1, Side.BUY, minutes[0].close, D("0.003"), minutes[0].ts))
    portfolio.apply_fill(make_fill(2, Side.SELL, minutes[1500].close, D("0.001"), minutes[1500].ts))
    portfolio.set_exit_prices(SYMBOL, D("110000"), D("118000.5"))
    data = portfolio.snapshot()

    restored = Portfolio.restore(data)
    assert restored.snapshot() == data
    assert restored.positions == portfolio.positions
    assert restored.cash_balances == {"BNB": D("0.5"), "USDT": portfolio.cash()}
    assert restored.daily_history == portfolio.daily_history
    assert restored.apply_fill(make_fill(2, Side.SELL, minutes[1500].close, D("0.001"), minutes[1500].ts)) is False

    closing = make_fill(3, Side.SELL, minutes[3000].close, D("0.002"), minutes[3000].ts)
    portfolio.apply_fill(closing)
    restored.apply_fill(closing)
    assert restored.snapshot() == portfolio.snapshot()


def test_restore_refuses_a_snapshot_of_another_version(minutes) -> None:
    data = Portfolio("USDT", {"USDT": D("1")}).snapshot().replace(b'"version":1', b'"version":99')
    with pytest.raises(PortfolioError, match="version 99"):
        Portfolio.restore(data)
