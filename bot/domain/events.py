"""Market events: one frozen type per Binance message kind.

Prices and quantities are `Decimal` built straight from the exchange's strings, so the value and
its written precision survive exactly ("61837.63000000" stays "61837.63000000"). Every event
carries `ts_event` (the exchange's time) and `ts_init` (when this process received the frame),
both in integer nanoseconds since the Unix epoch.

These are msgspec structs because they are created once per market message: msgspec builds
frozen instances several times faster than frozen dataclasses, and the type is still plain
data with no I/O.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

import msgspec


class EventKind(StrEnum):
    """The stream kinds the daemon understands; the values are the Redis stream suffixes."""

    TRADE = "trade"
    AGG_TRADE = "aggTrade"
    KLINE = "kline"
    BOOK_TICKER = "bookTicker"
    DEPTH_UPDATE = "depthUpdate"
    DEPTH_SNAPSHOT = "depthSnapshot"
    TICKER = "ticker"
    MINI_TICKER = "miniTicker"


PriceLevel = tuple[Decimal, Decimal]


class MarketEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Base of every market event. Each kind also has `sequence`: the exchange number that orders
    it within its symbol and kind (trade id, depth `u`, kline open time, ...).

    gc=False: events hold only numbers, strings and tuples of them, so they can never be part of
    a reference cycle, and keeping them out of the cycle collector saves a measurable share of
    the per-message cost."""

    symbol: str
    ts_event: int
    ts_init: int

    # A class attribute, not a field: it costs nothing per event.
    kind: ClassVar[EventKind]


class Trade(MarketEvent, frozen=True, kw_only=True):
    kind = EventKind.TRADE
    trade_id: int
    price: Decimal
    quantity: Decimal
    buyer_is_maker: bool
    ts_trade: int

    @property
    def sequence(self) -> int:
        return self.trade_id


class AggTrade(MarketEvent, frozen=True, kw_only=True):
    kind = EventKind.AGG_TRADE
    agg_trade_id: int
    price: Decimal
    quantity: Decimal
    first_trade_id: int
    last_trade_id: int
    buyer_is_maker: bool
    ts_trade: int

    @property
    def sequence(self) -> int:
        return self.agg_trade_id


class Kline(MarketEvent, frozen=True, kw_only=True):
    """One candlestick. `quote_volume`, `trade_count` and the two taker volumes are None when the
    source did not have them: Binance always sends them, but some historical kline files carry
    only OHLCV. None means "unknown", never zero, so nothing computes with a made-up number:
    features that need the value are unavailable and strategies that need it refuse the data
    (see `BarStrategy.required_kline_fields`)."""

    kind = EventKind.KLINE
    interval: str
    open_time: int
    close_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal | None
    trade_count: int | None
    taker_buy_base_volume: Decimal | None
    taker_buy_quote_volume: Decimal | None
    first_trade_id: int
    last_trade_id: int
    is_closed: bool

    @property
    def sequence(self) -> int:
        return self.open_time


OPTIONAL_KLINE_FIELDS: tuple[str, ...] = ("quote_volume", "trade_count", "taker_buy_base_volume", "taker_buy_quote_volume")
"""The Kline fields that are None when the source did not have them, in field order."""


class BookTicker(MarketEvent, frozen=True, kw_only=True):
    """Best bid and offer. Spot bookTicker frames carry no exchange time, so for them
    `ts_event` equals `ts_init` (the futures frames carry `E`, which is used)."""

    kind = EventKind.BOOK_TICKER
    update_id: int
    bid_price: Decimal
    bid_quantity: Decimal
    ask_price: Decimal
    ask_quantity: Decimal

    @property
    def sequence(self) -> int:
        return self.update_id


class DepthUpdate(MarketEvent, frozen=True, kw_only=True):
    """A diff of the order book: levels with quantity 0 are removed.

    `first_update_id`..`final_update_id` is the range of book updates this diff covers (Binance's
    `U` and `u`); `previous_final_update_id` is futures' `pu`, or -1 on spot.
    """

    kind = EventKind.DEPTH_UPDATE
    first_update_id: int
    final_update_id: int
    previous_final_update_id: int
    bids: tuple[PriceLevel, ...]
    asks: tuple[PriceLevel, ...]

    @property
    def sequence(self) -> int:
        return self.final_update_id


class DepthSnapshot(MarketEvent, frozen=True, kw_only=True):
    """A whole order book at update id `last_update_id`, as ingest's local book held it.

    Ingest records one each time its book comes into sync and then periodically (a checkpoint),
    so a reader of the record (the engine, a backtest) can rebuild the same book from the
    record alone: load the latest snapshot, then apply the diffs after it. `ts_event` is when it
    was taken (spot depth snapshots carry no exchange time), equal to `ts_init`.
    """

    kind = EventKind.DEPTH_SNAPSHOT
    last_update_id: int
    bids: tuple[PriceLevel, ...]
    asks: tuple[PriceLevel, ...]

    @property
    def sequence(self) -> int:
        return self.last_update_id


class DepthUpdateText(MarketEvent, frozen=True, kw_only=True):
    """A DepthUpdate whose levels are still the exchange's text, as the ingest path carries it.

    A diff holds about fifty levels; building a Decimal for each of them, and hashing it into the
    order book, cost more than everything else ingest did with the frame. The record only needs
    the text and the book converts a price once per distinct price, so the levels stay text (checked
    to be plain non-negative numerals when decoded) and `to_event` gives the Decimal DepthUpdate to
    whoever needs the values. The fields and their order are DepthUpdate's, so both encode to the
    same record.
    """

    kind = EventKind.DEPTH_UPDATE
    first_update_id: int
    final_update_id: int
    previous_final_update_id: int
    bids: tuple[tuple[str, str], ...]
    asks: tuple[tuple[str, str], ...]

    @property
    def sequence(self) -> int:
        return self.final_update_id

    def to_event(self) -> DepthUpdate:
        return DepthUpdate(
            symbol=self.symbol, ts_event=self.ts_event, ts_init=self.ts_init, first_update_id=self.first_update_id,
            final_update_id=self.final_update_id, previous_final_update_id=self.previous_final_update_id,
            bids=_decimal_levels(self.bids), asks=_decimal_levels(self.asks),
        )


class TradeText(MarketEvent, frozen=True, kw_only=True):
    """A Trade whose price and quantity are still the exchange's checked text, as ingest carries it.

    Ingest only records a trade, and building two Decimals per frame (then writing them back out
    as text) was a fifth of its cost per message. Same fields in the same order as Trade, so both
    encode to the same record; `to_event` gives the Decimal Trade."""

    kind = EventKind.TRADE
    trade_id: int
    price: str
    quantity: str
    buyer_is_maker: bool
    ts_trade: int

    @property
    def sequence(self) -> int:
        return self.trade_id

    def to_event(self) -> Trade:
        return Trade(
            symbol=self.symbol, ts_event=self.ts_event, ts_init=self.ts_init, trade_id=self.trade_id,
            price=Decimal(self.price), quantity=Decimal(self.quantity), buyer_is_maker=self.buyer_is_maker, ts_trade=self.ts_trade,
        )


class BookTickerText(MarketEvent, frozen=True, kw_only=True):
    """A BookTicker with the exchange's checked text for prices and quantities: see TradeText."""

    kind = EventKind.BOOK_TICKER
    update_id: int
    bid_price: str
    bid_quantity: str
    ask_price: str
    ask_quantity: str

    @property
    def sequence(self) -> int:
        return self.update_id

    def to_event(self) -> BookTicker:
        return BookTicker(
            symbol=self.symbol, ts_event=self.ts_event, ts_init=self.ts_init, update_id=self.update_id,
            bid_price=Decimal(self.bid_price), bid_quantity=Decimal(self.bid_quantity),
            ask_price=Decimal(self.ask_price), ask_quantity=Decimal(self.ask_quantity),
        )


def _decimal_levels(levels: tuple[tuple[str, str], ...]) -> tuple[PriceLevel, ...]:
    return tuple((Decimal(price), Decimal(quantity)) for price, quantity in levels)


class Ticker(MarketEvent, frozen=True, kw_only=True):
    """The rolling 24-hour ticker (`24hrTicker`)."""

    kind = EventKind.TICKER
    price_change: Decimal
    price_change_percent: Decimal
    weighted_average_price: Decimal
    last_price: Decimal
    last_quantity: Decimal
    best_bid_price: Decimal
    best_bid_quantity: Decimal
    best_ask_price: Decimal
    best_ask_quantity: Decimal
    open_price: Decimal
    high_price: Decimal
    low_price: Decimal
    volume: Decimal
    quote_volume: Decimal
    open_time: int
    close_time: int
    first_trade_id: int
    last_trade_id: int
    trade_count: int

    @property
    def sequence(self) -> int:
        return self.ts_event


class MiniTicker(MarketEvent, frozen=True, kw_only=True):
    kind = EventKind.MINI_TICKER
    close_price: Decimal
    open_price: Decimal
    high_price: Decimal
    low_price: Decimal
    volume: Decimal
    quote_volume: Decimal

    @property
    def sequence(self) -> int:
        return self.ts_event


class StreamMessage(msgspec.Struct, frozen=True, gc=False):
    """One combined-stream message: the stream name it arrived on and its typed event."""

    stream: str
    event: MarketEvent


MILLISECONDS = 1_000_000
"""Nanoseconds in one millisecond: Binance times are milliseconds, ours are nanoseconds."""

SEQUENCE_FIELDS: dict[str, str] = {
    "trade": "trade_id",
    "aggTrade": "agg_trade_id",
    "bookTicker": "update_id",
    "depthUpdate": "final_update_id",
    "depthSnapshot": "last_update_id",
}
"""The field each channel's `sequence` property reads, for the per-message paths (sequencing, entry
ids) that read it with a C attrgetter instead of a property call. Klines and tickers are keyed by
time instead."""
