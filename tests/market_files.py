"""Real recorded Binance data as domain events for unit tests, plus constructed bars for cases the
brief calls "constructed" (never presented as real data).

Reads the bundled recordings in bot/sim/recordings (see its SOURCES.md) directly with csv/json,
independent of the replay exchange's loaders.
"""

from __future__ import annotations

import csv
import gzip
import json
from decimal import Decimal
from functools import cache
from pathlib import Path

from bot.domain.events import MILLISECONDS, Kline, Trade

RECORDINGS = Path(__file__).parents[1] / "bot" / "sim" / "recordings"
BTC_2025 = "spot_BTCUSDT_1m_2025-09-22_2025-09-25.csv"
BTC_2020 = "spot_BTCUSDT_1m_2020-12-01_2020-12-02.csv"
ETH_2025 = "spot_ETHUSDT_1m_2025-09-22_2025-09-25.csv"
TRADES_RECORDING = "spot_BTCUSDT_depth100ms-bookTicker-trade_2024-08-08T2354_2024-08-09T0005.jsonl.gz"


TEST_DATA = Path(__file__).parent / "data"
OHLCV_ONLY = "spot_BTCUSDT_1m_2024-03-01_ohlcv-only.csv"  # in tests/data: taker columns empty


def _optional_decimal(cell: str) -> Decimal | None:
    return Decimal(cell) if cell else None


@cache
def recorded_klines(file_name: str, interval: str = "1m") -> tuple[Kline, ...]:
    """The closed 1m klines of a bundled CSV (header open_time_ms,open,...,taker_buy_quote), from
    bot/sim/recordings or else tests/data. Empty quote-volume, trade-count and taker cells (an
    OHLCV-only file) become None."""
    symbol = file_name.split("_")[1]
    path = RECORDINGS / file_name if (RECORDINGS / file_name).exists() else TEST_DATA / file_name
    bars = []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            close_time = int(row["close_time_ms"]) * MILLISECONDS
            bars.append(
                Kline(
                    symbol=symbol, ts_event=close_time, ts_init=close_time, interval=interval,
                    open_time=int(row["open_time_ms"]) * MILLISECONDS, close_time=close_time,
                    open=Decimal(row["open"]), high=Decimal(row["high"]), low=Decimal(row["low"]),
                    close=Decimal(row["close"]), volume=Decimal(row["volume"]),
                    quote_volume=_optional_decimal(row["quote_volume"]),
                    trade_count=int(row["trades"]) if row["trades"] else None,
                    taker_buy_base_volume=_optional_decimal(row["taker_buy_base"]),
                    taker_buy_quote_volume=_optional_decimal(row["taker_buy_quote"]),
                    first_trade_id=-1, last_trade_id=-1, is_closed=True,
                )
            )
    return tuple(bars)


@cache
def recorded_trades() -> tuple[Trade, ...]:
    """The 19,904 BTCUSDT trades of the bundled websocket recording, in arrival order."""
    trades = []
    with gzip.open(RECORDINGS / TRADES_RECORDING, "rt") as handle:
        for line in handle:
            record = json.loads(line)
            message = record["msg"]
            if not message.get("stream", "").endswith("@trade"):
                continue
            data = message["data"]
            trades.append(
                Trade(
                    symbol=data["s"], ts_event=data["E"] * MILLISECONDS, ts_init=record["recv_time_ns"],
                    trade_id=data["t"], price=Decimal(data["p"]), quantity=Decimal(data["q"]),
                    buyer_is_maker=data["m"], ts_trade=data["T"] * MILLISECONDS,
                )
            )
    return tuple(trades)


def constructed_bars(
    closes: list[str], *, symbol: str = "TESTUSDT", interval: str = "1m", spreads: list[str] | None = None
) -> list[Kline]:
    """CONSTRUCTED bars (not market data) for edge cases: open = previous close, high/low = the
    larger/smaller of open and close widened by `spreads[i]` (default 0)."""
    step = 60_000 * MILLISECONDS
    bars = []
    previous = Decimal(closes[0])
    for index, text in enumerate(closes):
        close = Decimal(text)
        spread = Decimal(spreads[index]) if spreads else Decimal(0)
        open_time = 1_700_000_000_000 * MILLISECONDS + index * step
        bars.append(
            Kline(
                symbol=symbol, ts_event=open_time + step - MILLISECONDS, ts_init=0, interval=interval,
                open_time=open_time, close_time=open_time + step - MILLISECONDS, open=previous,
                high=max(previous, close) + spread, low=min(previous, close) - spread, close=close,
                volume=Decimal(1), quote_volume=close, trade_count=1, taker_buy_base_volume=Decimal(0),
                taker_buy_quote_volume=Decimal(0), first_trade_id=index, last_trade_id=index, is_closed=True,
            )
        )
        previous = close
    return bars
