"""Raw-layer rows: the Parquet schemas of contract B and the conversions into them.

Prices and quantities are stored as the exchange's decimal TEXT: `str(Decimal)` gives back
exactly the string the Decimal was built from ("61837.63000000" stays "61837.63000000"), so the
raw layer keeps what was received, and typing it is the clean layer's job.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa

from bot.domain.events import MILLISECONDS, AggTrade, Kline, Trade
from bot.lake.layout import AGG_TRADES, KLINES, TRADES

KLINE_SCHEMA = pa.schema([
    pa.field("open_time_ms", pa.int64(), nullable=False),
    pa.field("close_time_ms", pa.int64(), nullable=False),
    pa.field("open", pa.string(), nullable=False),
    pa.field("high", pa.string(), nullable=False),
    pa.field("low", pa.string(), nullable=False),
    pa.field("close", pa.string(), nullable=False),
    pa.field("volume", pa.string(), nullable=False),
    pa.field("quote_volume", pa.string()),
    pa.field("trade_count", pa.int64()),
    pa.field("taker_buy_base_volume", pa.string()),
    pa.field("taker_buy_quote_volume", pa.string()),
    pa.field("source", pa.string(), nullable=False),
    pa.field("ingested_at_ns", pa.int64(), nullable=False),
])

TRADE_SCHEMA = pa.schema([
    pa.field("trade_id", pa.int64(), nullable=False),
    pa.field("price", pa.string(), nullable=False),
    pa.field("quantity", pa.string(), nullable=False),
    pa.field("time_ms", pa.int64(), nullable=False),
    pa.field("is_buyer_maker", pa.bool_(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("ingested_at_ns", pa.int64(), nullable=False),
])

AGG_TRADE_SCHEMA = pa.schema([
    pa.field("agg_trade_id", pa.int64(), nullable=False),
    pa.field("price", pa.string(), nullable=False),
    pa.field("quantity", pa.string(), nullable=False),
    pa.field("first_trade_id", pa.int64(), nullable=False),
    pa.field("last_trade_id", pa.int64(), nullable=False),
    pa.field("time_ms", pa.int64(), nullable=False),
    pa.field("is_buyer_maker", pa.bool_(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("ingested_at_ns", pa.int64(), nullable=False),
])

SCHEMAS: dict[str, pa.Schema] = {KLINES: KLINE_SCHEMA, TRADES: TRADE_SCHEMA, AGG_TRADES: AGG_TRADE_SCHEMA}
# The column that orders a kind's rows and names its files.
KEY_COLUMNS: dict[str, str] = {KLINES: "open_time_ms", TRADES: "trade_id", AGG_TRADES: "agg_trade_id"}
# The column whose UTC date is the row's `date=` partition.
TIME_COLUMNS: dict[str, str] = {KLINES: "open_time_ms", TRADES: "time_ms", AGG_TRADES: "time_ms"}

Row = dict[str, Any]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def kline_row(kline: Kline, source: str, ingested_at_ns: int) -> Row:
    return {
        "open_time_ms": kline.open_time // MILLISECONDS, "close_time_ms": kline.close_time // MILLISECONDS,
        "open": str(kline.open), "high": str(kline.high), "low": str(kline.low), "close": str(kline.close),
        "volume": str(kline.volume), "quote_volume": _text(kline.quote_volume), "trade_count": kline.trade_count,
        "taker_buy_base_volume": _text(kline.taker_buy_base_volume),
        "taker_buy_quote_volume": _text(kline.taker_buy_quote_volume),
        "source": source, "ingested_at_ns": ingested_at_ns,
    }


def trade_row(trade: Trade, source: str, ingested_at_ns: int) -> Row:
    return {
        "trade_id": trade.trade_id, "price": str(trade.price), "quantity": str(trade.quantity),
        "time_ms": trade.ts_trade // MILLISECONDS, "is_buyer_maker": trade.buyer_is_maker,
        "source": source, "ingested_at_ns": ingested_at_ns,
    }


def agg_trade_row(agg: AggTrade, source: str, ingested_at_ns: int) -> Row:
    return {
        "agg_trade_id": agg.agg_trade_id, "price": str(agg.price), "quantity": str(agg.quantity),
        "first_trade_id": agg.first_trade_id, "last_trade_id": agg.last_trade_id,
        "time_ms": agg.ts_trade // MILLISECONDS, "is_buyer_maker": agg.buyer_is_maker,
        "source": source, "ingested_at_ns": ingested_at_ns,
    }
