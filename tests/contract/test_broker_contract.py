"""The contract every Broker honours (bot.execution.broker), proven on real BTCUSDT data.

The book is the real depth snapshot of 2024-08-08 23:54 UTC: best bid 61837.63 (3.78826 BTC),
asks 61837.64 (1.54698), 61837.65 (0.00843), 61837.68 (0.00016), 61838.13 (0.00086), ...
Rules are BTCUSDT's real filters (tick 0.01, step 0.00001, MIN_NOTIONAL 10 USDT). Fees are 0.1%
in USDT. Balances are compared by value to the last Decimal digit.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from binance_data import real_trades
from bot.domain.rejections import OrderRejected
from bot.domain.trading import Liquidity, OrderRequest, OrderStatus, OrderType, Side
from bot.execution.broker import ExecutionReport

D = Decimal
FEE_RATE = D("0.001")


def order(client_order_id: str, side: Side, quantity: str, price: str | None = None, symbol: str = "BTCUSDT") -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id,
        symbol=symbol,
        side=side,
        order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
        quantity=D(quantity),
        price=None if price is None else D(price),
    )


def slices(report: ExecutionReport) -> list[tuple[Decimal, Decimal, Liquidity]]:
    return [(fill.price, fill.quantity, fill.liquidity) for fill in report.fills]


# ---- market orders ---------------------------------------------------------------------------


async def test_market_buy_takes_the_best_ask_and_pays_the_taker_fee_in_quote(make_venue):
    broker = make_venue({"USDT": D("1000")}).broker

    report = await broker.submit(order("market-buy", Side.BUY, "0.01"))

    assert report.order.status is OrderStatus.FILLED
    assert slices(report) == [(D("61837.64"), D("0.01"), Liquidity.TAKER)]
    fill = report.fills[0]
    assert (fill.fill_id, fill.fee, fill.fee_asset) == ("market-buy-1", D("0.6183764"), "USDT")
    assert (report.order.filled_quantity, report.order.quote_quantity) == (D("0.01"), D("618.3764"))
    # 1000 - 618.3764 - 0.6183764
    assert await broker.balances() == {"BTC": D("0.01"), "USDT": D("381.0052236")}


async def test_market_sell_takes_the_best_bid_and_pays_the_taker_fee_in_quote(make_venue):
    broker = make_venue({"BTC": D("0.05"), "USDT": D("0")}).broker

    report = await broker.submit(order("market-sell", Side.SELL, "0.02"))

    assert report.order.status is OrderStatus.FILLED
    assert slices(report) == [(D("61837.63"), D("0.02"), Liquidity.TAKER)]
    assert report.fills[0].fee == D("1.2367526")
    # 0.02 * 61837.63 = 1236.7526, less 0.1%
    assert await broker.balances() == {"BTC": D("0.03"), "USDT": D("1235.5158474")}


async def test_market_buy_walks_the_levels_and_reports_one_fill_per_level(make_venue):
    broker = make_venue({"USDT": D("100000")}).broker

    report = await broker.submit(order("walk", Side.BUY, "1.556"))

    assert report.order.status is OrderStatus.FILLED
    assert slices(report) == [
        (D("61837.64"), D("1.54698"), Liquidity.TAKER),
        (D("61837.65"), D("0.00843"), Liquidity.TAKER),
        (D("61837.68"), D("0.00016"), Liquidity.TAKER),
        (D("61838.13"), D("0.00043"), Liquidity.TAKER),
    ]
    assert [fill.fill_id for fill in report.fills] == ["walk-1", "walk-2", "walk-3", "walk-4"]
    assert report.order.quote_quantity == D("96219.3681414")  # the order's VWAP is this / 1.556
    assert sum(fill.fee for fill in report.fills) == D("96.2193681414")
    assert await broker.balances() == {"BTC": D("1.556"), "USDT": D("3684.4124904586")}


async def test_market_order_on_a_thin_book_fills_what_is_there_and_expires_the_rest(make_venue):
    # Constructed from real levels: the snapshot's three best asks only (1.55557 BTC in all).
    broker = make_venue({"USDT": D("200000")}, book_depth=3).broker

    report = await broker.submit(order("thin", Side.BUY, "2"))

    assert report.order.status is OrderStatus.EXPIRED
    assert report.order.filled_quantity == D("1.55557")
    assert [fill.price for fill in report.fills] == [D("61837.64"), D("61837.65"), D("61837.68")]
    assert await broker.open_orders() == []
    # 200000 - 96192.7777455 - 96.1927777455
    assert await broker.balances() == {"BTC": D("1.55557"), "USDT": D("103711.0294767545")}


# ---- limit orders ----------------------------------------------------------------------------


async def test_resting_limit_buy_fills_as_maker_at_its_price_when_trades_print_through(make_venue):
    venue = make_venue({"USDT": D("1000")})
    broker = venue.broker

    placed = await broker.submit(order("rest-buy", Side.BUY, "0.001", "61830.00"))
    assert placed.order.status is OrderStatus.NEW and placed.fills == ()
    assert (await broker.balances())["USDT"] <= D("1000") - D("61.83")  # the order's funds are held
    assert await broker.open_orders() == [placed.order]

    reports: list[ExecutionReport] = []
    for trade in real_trades():
        reports += await venue.trade(trade)
        if reports and reports[-1].order.status is OrderStatus.FILLED:
            break

    fills = [fill for report in reports for fill in report.fills]
    assert reports[-1].order.status is OrderStatus.FILLED
    assert {(fill.price, fill.liquidity) for fill in fills} == {(D("61830.00"), Liquidity.MAKER)}
    assert sum(fill.quantity for fill in fills) == D("0.001")
    assert all(fill.fee == fill.price * fill.quantity * FEE_RATE for fill in fills)
    assert await broker.open_orders() == []
    fees = sum(fill.fee for fill in fills)
    assert await broker.balances() == {"BTC": D("0.001"), "USDT": D("1000") - D("61.83") - fees}


async def test_marketable_limit_takes_the_book_as_taker_at_the_better_price(make_venue):
    broker = make_venue({"USDT": D("1000")}).broker

    report = await broker.submit(order("marketable", Side.BUY, "0.01", "61838.00"))

    assert report.order.status is OrderStatus.FILLED
    assert slices(report) == [(D("61837.64"), D("0.01"), Liquidity.TAKER)]  # not 61838.00
    assert await broker.open_orders() == []
    assert await broker.balances() == {"BTC": D("0.01"), "USDT": D("381.0052236")}


async def test_marketable_limit_never_passes_its_price_and_rests_the_rest(make_venue):
    broker = make_venue({"USDT": D("110000")}).broker

    report = await broker.submit(order("partly", Side.BUY, "1.6", "61837.68"))

    assert report.order.status is OrderStatus.PARTIALLY_FILLED
    assert [fill.price for fill in report.fills] == [D("61837.64"), D("61837.65"), D("61837.68")]
    assert report.order.filled_quantity == D("1.55557")
    assert await broker.open_orders() == [report.order]

    cancelled = await broker.cancel("BTCUSDT", "partly")

    assert cancelled.order.status is OrderStatus.CANCELED
    assert cancelled.order.filled_quantity == D("1.55557")
    # Cancelling gives back exactly what the unfilled 0.04443 BTC held: 110000 - 96192.7777455 - 0.1%.
    assert await broker.balances() == {"BTC": D("1.55557"), "USDT": D("13711.0294767545")}


# ---- cancel and open orders ------------------------------------------------------------------


async def test_cancel_releases_everything_and_a_second_cancel_is_unknown(make_venue):
    broker = make_venue({"BTC": D("0.05"), "USDT": D("1000")}).broker
    before = await broker.balances()

    await broker.submit(order("rest-sell", Side.SELL, "0.01", "61900.00"))
    assert (await broker.balances())["BTC"] == D("0.04")
    report = await broker.cancel("BTCUSDT", "rest-sell")

    assert report.order.status is OrderStatus.CANCELED and report.fills == ()
    assert await broker.balances() == before
    assert await broker.open_orders() == []
    for client_order_id in ("rest-sell", "never-placed"):
        with pytest.raises(OrderRejected) as refusal:
            await broker.cancel("BTCUSDT", client_order_id)
        assert (refusal.value.code, refusal.value.message) == (-2011, "Unknown order sent.")


async def test_open_orders_lists_resting_orders_oldest_first_by_symbol(make_venue):
    broker = make_venue({"BTC": D("0.05"), "USDT": D("1000")}).broker

    await broker.submit(order("bid", Side.BUY, "0.001", "61800.00"))
    await broker.submit(order("ask", Side.SELL, "0.001", "61900.00"))
    await broker.submit(order("taken", Side.BUY, "0.001"))

    assert [o.client_order_id for o in await broker.open_orders()] == ["bid", "ask"]
    assert [o.client_order_id for o in await broker.open_orders("BTCUSDT")] == ["bid", "ask"]
    assert await broker.open_orders("ETHUSDT") == []
    await broker.cancel("BTCUSDT", "bid")
    assert [o.client_order_id for o in await broker.open_orders()] == ["ask"]


# ---- idempotency -----------------------------------------------------------------------------


async def test_resubmitting_a_known_id_returns_the_order_without_new_fills(make_venue):
    broker = make_venue({"BTC": D("0.05"), "USDT": D("1000")}).broker

    first = await broker.submit(order("same", Side.BUY, "0.001"))
    balances = await broker.balances()
    again = await broker.submit(order("same", Side.BUY, "0.001"))

    assert again.order == first.order and again.fills == ()
    assert await broker.balances() == balances

    resting = await broker.submit(order("same-rest", Side.SELL, "0.001", "61900.00"))
    balances = await broker.balances()
    assert (await broker.submit(order("same-rest", Side.SELL, "0.001", "61900.00"))).order == resting.order
    assert await broker.balances() == balances
    assert len(await broker.open_orders()) == 1

    await broker.cancel("BTCUSDT", "same-rest")
    after_cancel = await broker.submit(order("same-rest", Side.SELL, "0.001", "61900.00"))
    assert after_cancel.order.status is OrderStatus.CANCELED and after_cancel.fills == ()
    assert await broker.open_orders() == []


# ---- rejections, in Binance's words ----------------------------------------------------------

REFUSALS = {
    "price off the tick": (order("r", Side.BUY, "0.001", "61830.005"), -1013, "Filter failure: PRICE_FILTER"),
    "quantity off the step": (order("r", Side.BUY, "0.000015", "61830.00"), -1013, "Filter failure: LOT_SIZE"),
    "limit under min notional": (order("r", Side.BUY, "0.0001", "61830.00"), -1013, "Filter failure: MIN_NOTIONAL"),
    "market under min notional": (order("r", Side.BUY, "0.0001"), -1013, "Filter failure: MIN_NOTIONAL"),
    "market over market lot": (order("r", Side.BUY, "100.1"), -1013, "Filter failure: MARKET_LOT_SIZE"),
    "unknown symbol": (order("r", Side.BUY, "0.001", "61830.00", symbol="BTCUSDX"), -1121, "Invalid symbol."),
    "not enough quote": (order("r", Side.BUY, "1", "61830.00"), -2010, "Account has insufficient balance for requested action."),
    "not enough base": (order("r", Side.SELL, "0.06"), -2010, "Account has insufficient balance for requested action."),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
async def test_refusals_carry_binance_code_and_text_and_leave_no_trace(make_venue, case):
    broker = make_venue({"BTC": D("0.05"), "USDT": D("1000")}).broker
    before = await broker.balances()
    request, code, message = REFUSALS[case]

    with pytest.raises(OrderRejected) as refusal:
        await broker.submit(request)

    assert (refusal.value.code, refusal.value.message) == (code, message)
    assert await broker.balances() == before
    assert await broker.open_orders() == []
    # Nothing was stored: the same id may carry a valid order afterwards.
    accepted = await broker.submit(order("r", Side.BUY, "0.001"))
    assert accepted.order.status is OrderStatus.FILLED
