"""The paper broker's fill models on real BTCUSDT 1m klines: next-open, close, and quote-amount buys.

The bars are the bundled spot BTCUSDT 1m klines of 2025-09-22 (bot/sim/recordings), as the
backtest loads them; the broker trades under the real BTCUSDT filters of the bundled exchangeInfo.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from pathlib import Path

from binance_data import all_rules

from bot.backtest.data import DataSpec, load_market_data
from bot.clock import ManualClock
from bot.domain.events import Kline
from bot.domain.order_ids import client_order_id
from bot.domain.trading import OrderRequest, OrderStatus, OrderType, Side
from bot.engine.market import MarketState
from bot.execution.fees import FeeSettings
from bot.execution.paper import FillModel, PaperBroker

BARS = [event for event in load_market_data(
    [DataSpec(Path(__file__).resolve().parents[2] / "bot/sim/recordings/spot_BTCUSDT_1m_2025-09-22_2025-09-25.csv")]
).events if isinstance(event, Kline)][:10]


def broker(fill_model: FillModel, usdt: str = "10000") -> tuple[PaperBroker, MarketState, ManualClock]:
    clock, market = ManualClock(BARS[0].ts_event), MarketState(["BTCUSDT"])
    paper = PaperBroker(all_rules(), market, {"USDT": Decimal(usdt)}, FeeSettings(), Decimal(0), clock, fill_model=fill_model)
    return paper, market, clock


def see(paper: PaperBroker, market: MarketState, clock: ManualClock, bar: Kline) -> list:
    clock.set(bar.ts_event)
    market.apply(bar)
    return paper.observe_market(bar)


def all_cash_buy(cash: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id("test", "BTCUSDT", Side.BUY, "bar-0"), symbol="BTCUSDT", side=Side.BUY,
        order_type=OrderType.MARKET, quantity=Decimal("0.08"), quote_order_quantity=Decimal(cash),
    )


def test_next_open_fills_at_the_next_bar_open_spending_exactly_the_cash() -> None:
    paper, market, clock = broker(FillModel.NEXT_OPEN)
    see(paper, market, clock, BARS[0])
    accepted = paper.submit_now(all_cash_buy("10000"))
    assert accepted.order.status is OrderStatus.NEW and not accepted.fills  # decided on bar 0's close
    [report] = see(paper, market, clock, BARS[1])
    [fill] = report.fills
    assert fill.price == BARS[1].open and fill.ts == BARS[1].open_time
    # qty = cash / (price * (1 + fee)), down to BTCUSDT's lot step (0.00001 in this exchangeInfo).
    assert fill.quantity == (Decimal(10_000) / (BARS[1].open * Decimal("1.001"))).quantize(Decimal("0.00001"), rounding=ROUND_DOWN)
    assert fill.fee == fill.price * fill.quantity * Decimal("0.001")
    assert report.order.status is OrderStatus.FILLED and report.order.quantity == fill.quantity
    assert paper.locked_balances() == {}


def test_close_fills_at_once_at_the_last_close() -> None:
    paper, market, clock = broker(FillModel.CLOSE)
    see(paper, market, clock, BARS[0])
    report = paper.submit_now(all_cash_buy("5000"))
    assert [fill.price for fill in report.fills] == [BARS[0].close]


def test_a_next_open_order_the_account_cannot_pay_expires_with_binances_text() -> None:
    paper, market, clock = broker(FillModel.NEXT_OPEN, usdt="100")
    see(paper, market, clock, BARS[0])
    paper.submit_now(all_cash_buy("5000"))  # more than the 100 USDT there is
    [report] = see(paper, market, clock, BARS[1])
    assert report.order.status is OrderStatus.EXPIRED and not report.fills
    assert report.order.reject_reason == "Account has insufficient balance for requested action."


def test_a_waiting_order_survives_a_restart() -> None:
    paper, market, clock = broker(FillModel.NEXT_OPEN)
    see(paper, market, clock, BARS[0])
    paper.submit_now(all_cash_buy("10000"))
    restarted, market_after, clock_after = broker(FillModel.NEXT_OPEN)
    restarted.restore(paper.snapshot())
    see(restarted, market_after, clock_after, BARS[0])
    [report] = see(restarted, market_after, clock_after, BARS[1])
    assert [fill.price for fill in report.fills] == [BARS[1].open]
    assert restarted.snapshot() != paper.snapshot()  # it moved on; the original still waits
