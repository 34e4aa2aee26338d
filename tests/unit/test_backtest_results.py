"""Backtest results: round trips, equity curve, summary.

Two kinds of cases: CONSTRUCTED fills and closes small enough to check by hand (labelled so), and
REAL BTCUSDT/ETHUSDT 1m closes with constructed fills, cross-checked against an independent pandas
computation of the same equity curve and its ratios.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from backtest_support import BTC_1M, MINUTE_NS, real_closes, realistic_run

from bot.backtest.results import (
    EquityPoint,
    RoundTrip,
    equity_curve,
    iso_time,
    json_safe,
    money_text,
    round_trips,
    summarize,
)
from bot.backtest.run import BacktestRun
from bot.domain.trading import Fill, Liquidity, Order, OrderStatus, OrderType, Side

DAY_NS = 86_400 * 10**9
D = Decimal


def fill(number: int, symbol: str, side: Side, price: str, quantity: str, fee: str, ts: int, fee_asset: str = "USDT") -> Fill:
    """A CONSTRUCTED fill."""
    return Fill(
        fill_id=f"c{number}-1", client_order_id=f"c{number}", symbol=symbol, side=side, price=D(price),
        quantity=D(quantity), fee=D(fee), fee_asset=fee_asset, liquidity=Liquidity.TAKER, ts=ts,
    )


def order(number: int, status: OrderStatus) -> Order:
    return Order(client_order_id=f"c{number}", symbol="AAAUSDT", side=Side.BUY, order_type=OrderType.MARKET,
                 quantity=D(1), price=None, status=status)


def constructed_run(fills: list[Fill], closes: dict[str, list[tuple[int, Decimal]]], cash: str = "100",
                    orders: tuple[Order, ...] = (), interval: int = DAY_NS) -> BacktestRun:
    return BacktestRun(
        strategy="constructed", parameters={"period": 3}, settings={"fee_bps": D("10")}, symbols=tuple(sorted(closes)),
        quote_asset="USDT", starting_cash=D(cash), fills=tuple(fills), orders=orders, closes=closes,
        bar_interval_ns=interval, data_start_ns=0, data_end_ns=10 * DAY_NS,
    )


# ---- round trips (constructed) ------------------------------------------------------------------

def test_one_buy_one_sell_is_one_trip_with_fees_in_the_pnl() -> None:
    trips = round_trips([fill(1, "AAAUSDT", Side.BUY, "100", "1", "0.1", 10),
                         fill(2, "AAAUSDT", Side.SELL, "110", "1", "0.11", 20)])
    assert trips == [RoundTrip(symbol="AAAUSDT", entry_time=10, exit_time=20, quantity=D(1), entry_price=D(100),
                               exit_price=D(110), fees=D("0.21"), pnl=D("9.79"))]


def test_scaling_in_and_out_gives_quantity_weighted_averages() -> None:
    """Constructed: buy 1@100 and 1@120 (avg 110), sell 0.5@130 and 1.5@90 (avg (65+135)/2 = 100)."""
    trips = round_trips([
        fill(1, "AAAUSDT", Side.BUY, "100", "1", "0.1", 10), fill(2, "AAAUSDT", Side.BUY, "120", "1", "0.12", 20),
        fill(3, "AAAUSDT", Side.SELL, "130", "0.5", "0.065", 30), fill(4, "AAAUSDT", Side.SELL, "90", "1.5", "0.135", 40),
    ])
    assert len(trips) == 1
    trip = trips[0]
    assert (trip.entry_time, trip.exit_time, trip.quantity) == (10, 40, D(2))
    assert (trip.entry_price, trip.exit_price) == (D(110), D(100))
    assert trip.fees == D("0.42")
    assert trip.pnl == D(200) - D(220) - D("0.42")


def test_open_positions_are_not_trips_and_symbols_are_kept_apart() -> None:
    """Constructed: AAA closes a trip, BBB is only partly sold and stays open."""
    trips = round_trips([
        fill(1, "AAAUSDT", Side.BUY, "10", "3", "0", 1), fill(2, "BBBUSDT", Side.BUY, "5", "2", "0", 2),
        fill(3, "AAAUSDT", Side.SELL, "12", "3", "0", 3), fill(4, "BBBUSDT", Side.SELL, "6", "1", "0", 4),
        fill(5, "AAAUSDT", Side.BUY, "11", "1", "0", 5),
    ])
    assert [(trip.symbol, trip.pnl) for trip in trips] == [("AAAUSDT", D(6))]


def test_flat_means_exactly_zero_so_dust_keeps_the_trip_open() -> None:
    """Constructed: 0.00000001 left over is still a position."""
    fills = [fill(1, "AAAUSDT", Side.BUY, "10", "1", "0", 1), fill(2, "AAAUSDT", Side.SELL, "11", "0.99999999", "0", 2)]
    assert round_trips(fills) == []
    assert len(round_trips([*fills, fill(3, "AAAUSDT", Side.SELL, "11", "0.00000001", "0", 3)])) == 1


def test_selling_more_than_is_held_is_refused() -> None:
    with pytest.raises(ValueError, match="sells 2 AAAUSDT but only 1 is held"):
        round_trips([fill(1, "AAAUSDT", Side.BUY, "10", "1", "0", 1), fill(2, "AAAUSDT", Side.SELL, "10", "2", "0", 2)])


# ---- equity curve (constructed) -----------------------------------------------------------------

def test_equity_curve_is_the_union_of_close_times_with_cash_and_marks() -> None:
    """Constructed: AAA closes at days 1,2,3; BBB only at days 2,3. A BBB buy on day 1 is marked at
    cost until BBB's first close; a fill exactly at a close time counts at that close."""
    closes = {"AAAUSDT": [(1 * DAY_NS, D(10)), (2 * DAY_NS, D(12)), (3 * DAY_NS, D(9))],
              "BBBUSDT": [(2 * DAY_NS, D(6)), (3 * DAY_NS, D(4))]}
    fills = [fill(1, "AAAUSDT", Side.BUY, "10", "2", "0.02", DAY_NS // 2),
             fill(2, "BBBUSDT", Side.BUY, "5", "4", "0.02", DAY_NS),
             fill(3, "AAAUSDT", Side.SELL, "12", "2", "0.024", 2 * DAY_NS)]
    curve = equity_curve(constructed_run(fills, closes))
    assert [point.time for point in curve] == [DAY_NS, 2 * DAY_NS, 3 * DAY_NS]
    day1_cash = D(100) - D(20) - D("0.02") - D(20) - D("0.02")
    assert curve[0] == EquityPoint(time=DAY_NS, equity=day1_cash + D(20) + D(20), cash=day1_cash,
                                   position_value=D(2) * D(10) + D(4) * D(5), in_position=True)
    day2_cash = day1_cash + D(24) - D("0.024")
    assert curve[1] == EquityPoint(time=2 * DAY_NS, equity=day2_cash + D(24), cash=day2_cash, position_value=D(24), in_position=True)
    assert curve[2] == EquityPoint(time=3 * DAY_NS, equity=day2_cash + D(16), cash=day2_cash, position_value=D(16), in_position=True)


def test_a_fill_after_the_last_close_adds_a_final_point() -> None:
    closes = {"AAAUSDT": [(DAY_NS, D(10))]}
    curve = equity_curve(constructed_run([fill(1, "AAAUSDT", Side.BUY, "11", "1", "0.5", 2 * DAY_NS)], closes))
    assert [(point.time, point.cash, point.position_value) for point in curve] == [
        (DAY_NS, D(100), D(0)), (2 * DAY_NS, D("88.5"), D(10))]  # marked at the last close, not the fill


def test_a_fee_in_another_asset_is_refused() -> None:
    closes = {"AAAUSDT": [(DAY_NS, D(10))]}
    with pytest.raises(ValueError, match="pays its fee in BNB"):
        equity_curve(constructed_run([fill(1, "AAAUSDT", Side.BUY, "10", "1", "0.01", 1, fee_asset="BNB")], closes))


# ---- summary (constructed) ----------------------------------------------------------------------

def test_summary_figures_by_hand() -> None:
    """Constructed: 100 cash, buy 1 @100 (no fee), daily closes 110, 99, 108.9, then sell at 108.9.
    Returns +10%, -10%, +10%: mean 1/30, sample stdev sqrt(3)/15, downside sqrt(0.01/3)."""
    closes = {"AAAUSDT": [(DAY_NS, D(110)), (2 * DAY_NS, D(99)), (3 * DAY_NS, D("108.9"))]}
    fills = [fill(1, "AAAUSDT", Side.BUY, "100", "1", "0", DAY_NS // 2), fill(2, "AAAUSDT", Side.SELL, "108.9", "1", "0", 3 * DAY_NS)]
    run = constructed_run(fills, closes, orders=(order(1, OrderStatus.FILLED), order(2, OrderStatus.FILLED), order(3, OrderStatus.REJECTED)))
    curve = equity_curve(run)
    summary = summarize(run, round_trips(run.fills), curve)
    assert summary["final_equity"] == "108.9" and summary["net_profit"] == "8.9"
    assert summary["total_return"] == pytest.approx(0.089, rel=1e-12)
    assert summary["max_drawdown"] == pytest.approx(11 / 110, rel=1e-12)
    assert summary["max_drawdown_peak"] == iso_time(DAY_NS) and summary["max_drawdown_trough"] == iso_time(2 * DAY_NS)
    assert summary["sharpe"] == pytest.approx(math.sqrt(365) / (2 * math.sqrt(3)), rel=1e-9)
    assert summary["sortino"] == pytest.approx(math.sqrt(365 / 3), rel=1e-9)
    assert summary["exposure"] == pytest.approx(2 / 3)  # sold at the third close: flat there
    assert (summary["n_trades"], summary["win_rate"], summary["profit_factor"]) == (1, 1.0, None)  # no losing trip
    assert (summary["gross_profit"], summary["gross_loss"]) == ("8.9", "0")
    assert summary["orders_by_status"]["FILLED"] == 2 and summary["orders_by_status"]["REJECTED"] == 1
    assert summary["n_orders"] == 3 and summary["bars"] == 3 and summary["open_positions"] == {}
    assert summary["settings"] == {"fee_bps": "10"} and summary["parameters"] == {"period": 3}
    assert summary["data_start"] == "1970-01-01T00:00:00.000Z"


def test_profit_factor_win_rate_and_fees_with_a_losing_trip() -> None:
    """Constructed: +20 - 1 fee and -5 - 1 fee: profit factor 19 / 6, win rate 1/2."""
    closes = {"AAAUSDT": [(t * DAY_NS, D(100)) for t in range(1, 5)]}
    fills = [fill(1, "AAAUSDT", Side.BUY, "100", "1", "0.5", 1), fill(2, "AAAUSDT", Side.SELL, "120", "1", "0.5", 2),
             fill(3, "AAAUSDT", Side.BUY, "100", "1", "0.5", 3), fill(4, "AAAUSDT", Side.SELL, "95", "1", "0.5", 4),
             fill(5, "AAAUSDT", Side.BUY, "100", "0.5", "0.25", 3 * DAY_NS)]
    run = constructed_run(fills, closes, cash="1000")
    summary = summarize(run, round_trips(run.fills), equity_curve(run))
    assert summary["profit_factor"] == pytest.approx(19 / 6) and summary["win_rate"] == 0.5
    assert summary["fees_paid"] == "2.25"  # includes the fee of the position still open
    assert summary["open_positions"] == {"AAAUSDT": "0.5"}
    assert summary["final_equity"] == money_text(D(1000) + D(19) - D(6) - D("0.25"))  # open: at the close, no exit fee
    assert summary["exposure"] == pytest.approx(2 / 4)


def test_an_empty_run_has_nulls_not_nans() -> None:
    run = constructed_run([], {"AAAUSDT": []})
    summary = summarize(run, [], equity_curve(run))
    assert summary["final_equity"] == "100" and summary["total_return"] == 0.0 and summary["bars"] == 0
    for key in ("sharpe", "sortino", "win_rate", "profit_factor", "exposure", "average_trade_pnl"):
        assert summary[key] is None, key
    json.dumps(summary, allow_nan=False)


def test_a_flat_curve_has_no_sharpe() -> None:
    closes = {"AAAUSDT": [(t * DAY_NS, D(100)) for t in range(1, 6)]}
    run = constructed_run([], closes)
    summary = summarize(run, [], equity_curve(run))
    assert (summary["sharpe"], summary["sortino"], summary["max_drawdown"], summary["exposure"]) == (None, None, 0.0, 0.0)


def test_formatting_helpers() -> None:
    assert iso_time(1_758_503_759_999_000_000) == "2025-09-22T01:15:59.999Z"
    assert (money_text(D("1E+2")), money_text(D("-0.00")), money_text(D("0.00001")), money_text(D("-3.50"))) == ("100", "0", "0.00001", "-3.50")
    assert json_safe({"b": D("NaN"), "a": (Side.BUY, float("inf"), {2: D("1.5")})}) == {"a": ["BUY", None, {"2": "1.5"}], "b": None}


# ---- real closes, cross-checked with pandas -----------------------------------------------------

def pandas_reference(run: BacktestRun) -> pd.Series:
    """Independent equity curve: cash flows cumulated, holdings as-of each close time."""
    times = sorted({time for closes in run.closes.values() for time, _ in closes})
    index = pd.Index(times)
    flows = pd.Series([float(-(f.price * f.quantity) - f.fee if f.side is Side.BUY else f.price * f.quantity - f.fee) for f in run.fills],
                      index=[f.ts for f in run.fills])
    cash = float(run.starting_cash) + np.array([flows[flows.index <= t].sum() for t in times])
    equity = pd.Series(cash, index=index)
    for symbol, closes in run.closes.items():
        quantity = pd.Series([float(f.quantity) * (1 if f.side is Side.BUY else -1) for f in run.fills if f.symbol == symbol],
                             index=[f.ts for f in run.fills if f.symbol == symbol])
        held = np.array([quantity[quantity.index <= t].sum() for t in times])
        price = pd.Series([float(p) for _, p in closes], index=[t for t, _ in closes]).reindex(index).ffill().fillna(0.0)
        equity += held * price.to_numpy()
    return equity


def test_real_closes_match_an_independent_pandas_computation() -> None:
    run = realistic_run()
    curve = equity_curve(run)
    reference = pandas_reference(run)
    assert [point.time for point in curve] == list(reference.index) and len(curve) == len(real_closes(BTC_1M))
    assert np.allclose([float(point.equity) for point in curve], reference.to_numpy(), rtol=0, atol=1e-6)
    summary = summarize(run, round_trips(run.fills), curve)
    with_start = pd.concat([pd.Series([float(run.starting_cash)]), reference.reset_index(drop=True)], ignore_index=True)
    returns = with_start.pct_change().dropna()
    per_year = math.sqrt(365 * DAY_NS / MINUTE_NS)
    assert summary["sharpe"] == pytest.approx(returns.mean() / returns.std() * per_year, rel=1e-6)
    assert summary["sortino"] == pytest.approx(returns.mean() / math.sqrt((returns.clip(upper=0) ** 2).mean()) * per_year, rel=1e-6)
    assert summary["max_drawdown"] == pytest.approx((1 - with_start / with_start.cummax()).max(), rel=1e-9)
    assert summary["total_return"] == pytest.approx(with_start.iloc[-1] / with_start.iloc[0] - 1, rel=1e-9)
    assert 0 < summary["max_drawdown"] < 0.1 and summary["n_trades"] == 6


def test_real_closes_final_equity_is_trips_plus_the_open_position() -> None:
    """Exact Decimal identity: final = start + sum(trip pnl) + open qty * last close - its cost - its fees."""
    run = realistic_run()
    trips = round_trips(run.fills)
    open_buys = [f for f in run.fills if f.symbol == "BTCUSDT"][-1:]
    assert open_buys[0].side is Side.BUY
    last_close = real_closes(BTC_1M)[-1][1]
    expected = run.starting_cash + sum(t.pnl for t in trips) + sum(f.quantity * last_close - f.price * f.quantity - f.fee for f in open_buys)
    summary = summarize(run, trips, equity_curve(run))
    assert summary["final_equity"] == money_text(expected)
    assert D(summary["fees_paid"]) == sum(t.fees for t in trips) + open_buys[0].fee
