"""Real BTCUSDT and ETHUSDT prices and small builders for the risk tests (`from risk_support import ...`).

The prices are Binance spot 1m klines of 2025-09-22 01:15 to 2025-09-25 01:13 UTC, bundled with
the replay exchange (bot/sim/recordings/SOURCES.md: Karasik777/ForecastTest, MIT). Values are
read as the exchange printed them, straight into Decimal.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from bot.domain.trading import Fill, Liquidity, Side, Signal, SignalAction

RECORDINGS = Path(__file__).parents[1] / "bot" / "sim" / "recordings"
SYMBOL = "BTCUSDT"


class Minute(NamedTuple):
    """One closed 1m kline; `ts` is its close time in ns (when a bot would act on it)."""

    index: int
    ts: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


def btcusdt_minutes() -> tuple[Minute, ...]:
    return recorded_minutes("BTCUSDT")


def ethusdt_minutes() -> tuple[Minute, ...]:
    return recorded_minutes("ETHUSDT")


@lru_cache(maxsize=2)
def recorded_minutes(symbol: str) -> tuple[Minute, ...]:
    with (RECORDINGS / f"spot_{symbol}_1m_2025-09-22_2025-09-25.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return tuple(
        Minute(
            index=index,
            ts=int(row["close_time_ms"]) * 1_000_000,
            open=Decimal(row["open"]),
            high=Decimal(row["high"]),
            low=Decimal(row["low"]),
            close=Decimal(row["close"]),
        )
        for index, row in enumerate(rows)
    )


def make_fill(
    number: int,
    side: Side,
    price: Decimal,
    quantity: Decimal,
    ts: int,
    fee: Decimal | None = None,
    fee_asset: str = "USDT",
    symbol: str = SYMBOL,
) -> Fill:
    """A fill with Binance's default taker fee (0.1% of the quote value) unless `fee` is given."""
    if fee is None:
        fee = quantity * price * Decimal("0.001")
    return Fill(
        fill_id=f"fill-{number}",
        client_order_id=f"order-{number}",
        symbol=symbol,
        side=side,
        price=price,
        quantity=quantity,
        fee=fee,
        fee_asset=fee_asset,
        liquidity=Liquidity.TAKER,
        ts=ts,
    )


def make_signal(action: SignalAction, ts: int, symbol: str = SYMBOL, **extra: object) -> Signal:
    return Signal(
        strategy="test_strategy",
        symbol=symbol,
        action=action,
        strength=1.0,
        ts_event=ts,
        trigger=f"kline_1m:{ts // 1_000_000}",
        **extra,  # type: ignore[arg-type]
    )
