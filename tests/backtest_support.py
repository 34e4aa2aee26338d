"""Backtest results on REAL prices: `from backtest_support import ...` (tests/ is on sys.path).

The closes are the real BTCUSDT / ETHUSDT 1m klines of 2025-09-22..25 bundled with the replay
exchange (bot/sim/recordings/SOURCES.md). The fills are CONSTRUCTED (no engine ran): each is put
at a real bar's open time and open price, the way a market order decided at a bar's close fills at
the next bar's open, with a constructed 10 bps taker fee in USDT.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from bot.backtest.run import BacktestRun
from bot.domain.trading import Fill, Liquidity, Order, OrderStatus, OrderType, Side

RECORDINGS = Path(__file__).parents[1] / "bot" / "sim" / "recordings"
BTC_1M = RECORDINGS / "spot_BTCUSDT_1m_2025-09-22_2025-09-25.csv"
ETH_1M = RECORDINGS / "spot_ETHUSDT_1m_2025-09-22_2025-09-25.csv"
MILLISECOND = 1_000_000
MINUTE_NS = 60_000 * MILLISECOND
FEE_RATE = Decimal("0.001")  # constructed: 10 bps taker


@lru_cache(maxsize=4)
def kline_rows(path: Path) -> tuple[dict[str, str], ...]:
    with open(path, newline="", encoding="utf-8") as file:
        return tuple(csv.DictReader(file))


def real_closes(path: Path) -> tuple[tuple[int, Decimal], ...]:
    """(bar close time ns, close) of every real bar; the close time is Binance's close_time_ms."""
    return tuple((int(row["close_time_ms"]) * MILLISECOND, Decimal(row["close"])) for row in kline_rows(path))


def fill_at_open(path: Path, bar: int, symbol: str, side: Side, quantity: Decimal, number: int) -> Fill:
    """A CONSTRUCTED market fill at the real open of bar `bar` (index into the file)."""
    row = kline_rows(path)[bar]
    price = Decimal(row["open"])
    return Fill(
        fill_id=f"bt-{symbol}-{number}-1", client_order_id=f"bt-{symbol}-{number}", symbol=symbol, side=side,
        price=price, quantity=quantity, fee=(price * quantity * FEE_RATE).quantize(Decimal("1e-8")),
        fee_asset="USDT", liquidity=Liquidity.TAKER, ts=int(row["open_time_ms"]) * MILLISECOND,
    )


def filled_order(fill: Fill) -> Order:
    return Order(
        client_order_id=fill.client_order_id, symbol=fill.symbol, side=fill.side, order_type=OrderType.MARKET,
        quantity=fill.quantity, price=None, status=OrderStatus.FILLED, filled_quantity=fill.quantity,
        quote_quantity=fill.price * fill.quantity, ts_created=fill.ts, ts_updated=fill.ts, strategy="sma_cross",
    )


# CONSTRUCTED trades on real bars: (bar index of the buy, bar index of the sell, BTC quantity).
BTC_TRADES = ((30, 400, Decimal("0.05")), (900, 1500, Decimal("0.04")), (2000, 2100, Decimal("0.05")),
              (2600, 3300, Decimal("0.03")), (3900, None, Decimal("0.02")))
ETH_TRADES = ((100, 1200, Decimal("0.9")), (2500, 2900, Decimal("0.8")))


def realistic_run(starting_cash: Decimal = Decimal(10000)) -> BacktestRun:
    """Two symbols of real closes with constructed round trips (BTC's last one left open)."""
    fills: list[Fill] = []
    for path, symbol, trades in ((BTC_1M, "BTCUSDT", BTC_TRADES), (ETH_1M, "ETHUSDT", ETH_TRADES)):
        for number, (buy_bar, sell_bar, quantity) in enumerate(trades):
            fills.append(fill_at_open(path, buy_bar, symbol, Side.BUY, quantity, 2 * number))
            if sell_bar is not None:
                fills.append(fill_at_open(path, sell_bar, symbol, Side.SELL, quantity, 2 * number + 1))
    fills.sort(key=lambda fill: (fill.ts, fill.fill_id))
    rows = kline_rows(BTC_1M)
    return BacktestRun(
        strategy="sma_cross", parameters={"fast": 20, "slow": 50, "interval": "1m", "quantity": Decimal("0.05")},
        settings={"fill_model": "next_open", "fee_bps": 10, "cash": starting_cash, "guards": ["spread", "data"],
                  "from": "2025-09-22", "to": "2025-09-25"},
        symbols=("BTCUSDT", "ETHUSDT"), quote_asset="USDT", starting_cash=starting_cash, fills=tuple(fills),
        orders=tuple(filled_order(fill) for fill in fills),
        closes={"BTCUSDT": real_closes(BTC_1M), "ETHUSDT": real_closes(ETH_1M)}, bar_interval_ns=MINUTE_NS,
        data_start_ns=int(rows[0]["open_time_ms"]) * MILLISECOND, data_end_ns=int(rows[-1]["close_time_ms"]) * MILLISECOND,
        warnings=("constructed fills on real closes (test data, no strategy ran)",),
    )
