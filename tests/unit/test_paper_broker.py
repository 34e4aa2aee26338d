"""What the paper broker does beyond the common contract (tests/contract): its fill model, held
funds, fees, slippage, and exporting/restoring its whole state. Real BTCUSDT data throughout."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

import msgspec
import pydantic
import pytest

from binance_data import RECORDINGS, SNAPSHOT_TIME_NS, all_rules, book_market, real_trades
from bot.clock import ManualClock
from bot.domain.events import BookTicker
from bot.domain.rejections import OrderRejected
from bot.domain.trading import Liquidity, OrderRequest, OrderStatus, OrderType, Side
from bot.execution.broker import rejected_report
from bot.execution.fees import FeeSettings
from bot.engine.market import MarketState
from bot.execution.paper import PaperBroker

D = Decimal
RECORDING = RECORDINGS / "spot_BTCUSDT_depth100ms-bookTicker-trade_2024-08-08T2354_2024-08-09T0005.jsonl.gz"


def order(client_order_id: str, side: Side, quantity: str, price: str | None = None) -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id,
        symbol="BTCUSDT",
        side=side,
        order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
        quantity=D(quantity),
        price=None if price is None else D(price),
    )


def paper(balances: dict[str, Decimal], market=None, fees: FeeSettings | None = None, slippage_bps: str = "0") -> PaperBroker:
    return PaperBroker(all_rules(), market or book_market(), balances, fees or FeeSettings(), D(slippage_bps), ManualClock(SNAPSHOT_TIME_NS))


def first_book_ticker() -> BookTicker:
    """The recording's first real bookTicker frame, decoded the way ingest decodes it."""
    from bot.ingest.wire import FrameDecoder

    with gzip.open(RECORDING, "rt", encoding="utf-8") as file:
        for line in file:
            record = json.loads(line)
            if record["msg"].get("stream", "").endswith("@bookTicker"):
                message = FrameDecoder().decode(json.dumps(record["msg"]), record["recv_time_ns"])
                return message.event  # type: ignore[union-attr, return-value]
    raise AssertionError("no bookTicker in the recording")


async def test_a_resting_buy_holds_notional_plus_the_highest_fee() -> None:
    broker = paper({"USDT": D("1000")}, fees=FeeSettings(taker_bps=D("4"), maker_bps=D("2")))
    await broker.submit(order("hold", Side.BUY, "0.001", "61830.00"))
    assert broker.locked_balances() == {"USDT": D("61.8547320")}  # 61.83 * 1.0004
    assert await broker.balances() == {"USDT": D("938.1452680")}


async def test_a_print_at_the_limit_does_not_fill_one_through_it_does_up_to_its_size() -> None:
    broker = paper({"USDT": D("1000")})
    await broker.submit(order("first", Side.BUY, "0.0002", "61830.00"))
    await broker.submit(order("second", Side.BUY, "0.0002", "61830.00"))
    trades = real_trades()
    assert (trades[37].price, trades[39].price, trades[40].price) == (D("61830.00"), D("61828.55"), D("61828.55"))

    assert broker.observe_market(trades[37]) == []  # at the price: the queue ahead of us goes first
    first_print = broker.observe_market(trades[39])  # 0.00017 BTC printed through 61830.00
    assert [(r.order.client_order_id, r.fills[0].quantity) for r in first_print] == [("first", D("0.00017"))]
    second_print = broker.observe_market(trades[40])  # another 0.00017, shared oldest first
    assert [(r.order.client_order_id, r.fills[0].quantity) for r in second_print] == [("first", D("0.00003")), ("second", D("0.00014"))]
    assert [f.fill_id for r in first_print + second_print for f in r.fills] == ["first-1", "first-2", "second-1"]
    assert second_print[0].order.status is OrderStatus.FILLED
    assert second_print[1].order.status is OrderStatus.PARTIALLY_FILLED


async def test_maker_and_taker_fills_pay_their_own_rates() -> None:
    broker = paper({"USDT": D("1000")}, fees=FeeSettings(taker_bps=D("4"), maker_bps=D("2")))
    taker = await broker.submit(order("taker", Side.BUY, "0.001"))
    assert taker.fills[0].fee == D("61.83764") * D("0.0004")
    await broker.submit(order("maker", Side.BUY, "0.00017", "61830.00"))
    (maker,) = broker.observe_market(real_trades()[39])
    assert maker.fills[0].liquidity is Liquidity.MAKER
    assert maker.fills[0].fee == D("61830.00") * D("0.00017") * D("0.0002")
    # 1000 - taker cost and fee - maker cost and fee; the maker's unused 0.0004-0.0002 hold came back.
    expected = D("1000") - D("61.83764") * D("1.0004") - D("10.5111") * D("1.0002")
    assert await broker.balances() == {"BTC": D("0.00117"), "USDT": expected}
    assert broker.locked_balances() == {}


async def test_without_a_depth_book_market_orders_fill_at_the_quote_plus_slippage() -> None:
    ticker = first_book_ticker()
    assert (ticker.bid_price, ticker.ask_price) == (D("61837.63"), D("61837.64"))
    market = MarketState(["BTCUSDT"])
    market.apply(ticker)
    broker = paper({"BTC": D("0.01"), "USDT": D("1000")}, market=market, slippage_bps="5")

    bought = await broker.submit(order("buy", Side.BUY, "0.002"))
    sold = await broker.submit(order("sell", Side.SELL, "0.002"))

    assert bought.fills[0].price == D("61868.56")  # 61837.64 * 1.0005 = 61868.558..., rounded up
    assert sold.fills[0].price == D("61806.71")  # 61837.63 * 0.9995 = 61806.711..., rounded down
    assert bought.fills[0].quantity == sold.fills[0].quantity == D("0.002")


async def test_no_quotes_at_all_is_binance_no_depth() -> None:
    broker = paper({"USDT": D("1000")}, market=MarketState(["BTCUSDT"]))
    with pytest.raises(OrderRejected) as refusal:
        await broker.submit(order("blind", Side.BUY, "0.001"))
    assert (refusal.value.code, refusal.value.message) == (-1112, "No orders on book for symbol.")


async def test_a_market_buy_must_afford_its_fee_too() -> None:
    # 0.001 BTC at the best ask costs 61.83764 USDT plus 0.06183764 fee.
    with pytest.raises(OrderRejected) as refusal:
        await paper({"USDT": D("61.89947763")}).submit(order("short", Side.BUY, "0.001"))
    assert refusal.value.code == -2010
    report = await paper({"USDT": D("61.89947764")}).submit(order("exact", Side.BUY, "0.001"))
    assert report.order.status is OrderStatus.FILLED


async def test_other_events_and_other_symbols_do_not_move_resting_orders() -> None:
    broker = paper({"USDT": D("1000")})
    await broker.submit(order("rest", Side.BUY, "0.001", "61830.00"))
    elsewhere = msgspec.structs.replace(real_trades()[39], symbol="ETHUSDT")
    assert broker.observe_market(first_book_ticker()) == []
    assert broker.observe_market(elsewhere) == []
    assert [o.status for o in await broker.open_orders()] == [OrderStatus.NEW]


async def scenario(broker: PaperBroker, trades) -> list:
    """Market buy, two resting orders, then real trades: everything the broker reports."""
    reports = [await broker.submit(order("m", Side.BUY, "0.01"))]
    reports.append(await broker.submit(order("b", Side.BUY, "0.0005", "61830.00")))
    reports.append(await broker.submit(order("s", Side.SELL, "0.005", "61850.00")))
    for trade in trades:
        reports += broker.observe_market(trade)
    return reports


async def test_snapshot_and_restore_resume_exactly_where_the_broker_stopped() -> None:
    trades = real_trades()
    uninterrupted = paper({"BTC": D("0.01"), "USDT": D("2000")})
    all_reports = await scenario(uninterrupted, trades)

    first_half = paper({"BTC": D("0.01"), "USDT": D("2000")})
    reports = await scenario(first_half, trades[:300])
    restarted = paper({})
    restarted.restore(first_half.snapshot())
    assert restarted.snapshot() == first_half.snapshot()
    for trade in trades[300:]:
        reports += restarted.observe_market(trade)

    assert reports == all_reports
    assert restarted.snapshot() == uninterrupted.snapshot()
    assert any(fill.liquidity is Liquidity.MAKER for report in reports for fill in report.fills)
    assert await restarted.balances() == await uninterrupted.balances()


async def test_two_runs_give_byte_identical_state() -> None:
    runs = []
    for _ in range(2):
        broker = paper({"BTC": D("0.01"), "USDT": D("2000")})
        await scenario(broker, real_trades())
        runs.append(broker.snapshot())
    assert runs[0] == runs[1]
    state = json.loads(runs[0])
    assert state["free"]["USDT"] == str((await broker.balances())["USDT"])  # Decimals stay strings
    # The state does not grow with history: fill counts are kept for open orders only.
    assert set(state["fill_counts"]) <= set(state["holds"]) and "fills" not in state


def test_restore_refuses_a_state_whose_holds_do_not_match_its_open_orders() -> None:
    state = json.loads(paper({"USDT": D("1")}).snapshot())
    state["holds"] = {"ghost": "1"}
    with pytest.raises(ValueError, match="holds do not match"):
        paper({}).restore(json.dumps(state).encode())
    state["format"] = 99
    with pytest.raises(ValueError, match="format 99"):
        paper({}).restore(json.dumps(state).encode())


def test_a_refusal_becomes_a_rejected_order_for_the_ledger() -> None:
    request = order("refused", Side.BUY, "0.000015", "61830.00")
    report = rejected_report(request, OrderRejected(-1013, "Filter failure: LOT_SIZE"), ts=SNAPSHOT_TIME_NS)
    assert report.order.status is OrderStatus.REJECTED and report.fills == ()
    assert report.order.reject_reason == "-1013 Filter failure: LOT_SIZE"
    assert report.order.ts_created == SNAPSHOT_TIME_NS


def test_fee_settings_name_the_bad_parameter_and_forbid_unknown_keys() -> None:
    with pytest.raises(pydantic.ValidationError, match="taker_bps"):
        FeeSettings(taker_bps=D("-1"))
    with pytest.raises(pydantic.ValidationError, match="maker_fee"):
        FeeSettings(maker_fee=D("1"))  # type: ignore[call-arg]
    assert FeeSettings().rate(Liquidity.TAKER) == D("0.001")


def test_the_market_view_answers_from_the_book_best_first() -> None:
    market = book_market()
    assert market.best_bid("BTCUSDT") == (D("61837.63"), D("3.78826"))
    assert market.book_levels("BTCUSDT", Side.SELL, 2) == [(D("61837.64"), D("1.54698")), (D("61837.65"), D("0.00843"))]
    assert market.book_levels("BTCUSDT", Side.BUY, 1) == [(D("61837.63"), D("3.78826"))]
    assert market.book_levels("ETHUSDT", Side.BUY, 5) == [] and market.best_ask("ETHUSDT") is None
    market.apply(real_trades()[0])
    assert market.last_trade_price("BTCUSDT") == D("61837.63")
