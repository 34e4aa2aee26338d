"""Real recorded Binance data for the guard tests, as domain events (`from guard_data import ...`).

Decoding goes through `bot.ingest.wire.FrameDecoder` (pure), exactly as live ingest does, with the
recorder's receive time as `ts_init`. Klines are read from the real CSV files; a closed kline's
`ts_event` is its close time plus one millisecond, when Binance publishes the closed bar.
"""

from __future__ import annotations

import csv
import gzip
import json
from decimal import Decimal
from functools import cache
from pathlib import Path

from bot.domain.events import (
    MILLISECONDS,
    BookTicker,
    Kline,
    MarketEvent,
    StreamMessage,
    Trade,
)
from bot.ingest.wire import FrameDecoder

ROOT = Path(__file__).parents[1]
RECORDINGS = ROOT / "bot/sim/recordings"
BTC_RECORDING = RECORDINGS / "spot_BTCUSDT_depth100ms-bookTicker-trade_2024-08-08T2354_2024-08-09T0005.jsonl.gz"
TEST_DATA = ROOT / "tests/data"


@cache
def btc_recording_events() -> tuple[MarketEvent, ...]:
    """The 99,573 market events of the bundled BTCUSDT recording, in recorded order."""
    decoder = FrameDecoder()
    events = []
    with gzip.open(BTC_RECORDING, "rb") as lines:
        for line in lines:
            record = json.loads(line)
            message = record["msg"]
            if "stream" not in message:
                continue  # the REST depth snapshot the recorder took to sync its book
            frame = json.dumps(message, separators=(",", ":")).encode()
            decoded = decoder.decode(frame, record["recv_time_ns"])
            assert isinstance(decoded, StreamMessage)
            events.append(decoded.event)
    return tuple(events)


def optional_decimal(cell: str) -> Decimal | None:
    """An empty cell (a klines file without that column) is unknown: None, never 0."""
    return Decimal(cell) if cell else None


def read_klines(path: Path, symbol: str, interval: str) -> list[Kline]:
    """Closed klines from a CSV in the shared layout (`open_time_ms,open,high,low,close,volume,...`);
    empty quote-volume, trade-count and taker cells become None."""
    klines = []
    with path.open(newline="") as rows:
        for row in csv.DictReader(rows):
            close_time = int(row["close_time_ms"]) * MILLISECONDS
            klines.append(Kline(
                symbol=symbol, ts_event=close_time + MILLISECONDS, ts_init=close_time + MILLISECONDS, interval=interval,
                open_time=int(row["open_time_ms"]) * MILLISECONDS, close_time=close_time, open=Decimal(row["open"]),
                high=Decimal(row["high"]), low=Decimal(row["low"]), close=Decimal(row["close"]),
                volume=Decimal(row["volume"]), quote_volume=optional_decimal(row["quote_volume"]),
                trade_count=int(row["trades"]) if row["trades"] else None,
                taker_buy_base_volume=optional_decimal(row["taker_buy_base"]),
                taker_buy_quote_volume=optional_decimal(row["taker_buy_quote"]), first_trade_id=-1, last_trade_id=-1,
                is_closed=True,
            ))
    return klines


# --- constructed events (for the "must trigger" / "must not trigger" cases; not real data) -------

BASE_NS = 1_723_161_600 * 1_000_000_000
"""An arbitrary start time for constructed cases (2024-08-09 00:00 UTC, a minute boundary)."""


def at(seconds: float) -> int:
    """Nanoseconds `seconds` after BASE_NS."""
    return BASE_NS + round(seconds * 1_000_000_000)


def constructed_trade(seconds: float, price: str | float, quantity: str | float = "1", buyer_is_maker: bool = False,
                      trade_id: int = 0, symbol: str = "TESTUSDT", latency_ms: int = 20) -> Trade:
    ts = at(seconds)
    return Trade(symbol=symbol, ts_event=ts, ts_init=ts + latency_ms * MILLISECONDS, trade_id=trade_id,
                 price=Decimal(str(price)), quantity=Decimal(str(quantity)), buyer_is_maker=buyer_is_maker, ts_trade=ts)


def constructed_book(seconds: float, bid: str | float, ask: str | float, symbol: str = "TESTUSDT") -> BookTicker:
    ts = at(seconds)  # spot bookTicker: no exchange time, ts_event == ts_init
    return BookTicker(symbol=symbol, ts_event=ts, ts_init=ts, update_id=0, bid_price=Decimal(str(bid)),
                      bid_quantity=Decimal(1), ask_price=Decimal(str(ask)), ask_quantity=Decimal(1))
