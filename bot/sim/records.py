"""Typed records the replay exchange keeps for its REST side, and the wire builders for events that
a recording holds only as table rows (klines, trades and aggregate trades CSV files).

Prices and quantities stay the exact strings that were recorded: a float round-trip would change
"0.00001000" into "1e-05" and break byte-for-byte parity with Binance.
"""

from __future__ import annotations

import re
from decimal import Decimal

import msgspec

# A decimal numeral as Binance writes it. Table cells must match before they are embedded in JSON
# unquoted-safe: anything else would let a bad file produce invalid frames.
DECIMAL_TEXT = re.compile(r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$")
SYMBOL_TEXT = re.compile(r"^[A-Z0-9]+$")
EIGHT_PLACES = Decimal("1e-8")


class TradeRecord(msgspec.Struct, gc=False):
    """One raw trade. `position` is where its event sits in the merged timeline: the REST side
    shows the trade only once the replay cursor has passed that position."""

    trade_id: int
    price: str
    quantity: str
    quote_quantity: str | None
    time_ms: int
    is_buyer_maker: bool
    is_best_match: bool
    position: int

    def rest_quote_quantity(self) -> str:
        # Binance computes quoteQty as price * qty; the recorded value wins when the source had one.
        if self.quote_quantity is not None:
            return self.quote_quantity
        return exact_product(self.price, self.quantity)


class AggTradeRecord(msgspec.Struct, gc=False):
    agg_id: int
    price: str
    quantity: str
    first_trade_id: int
    last_trade_id: int
    time_ms: int
    is_buyer_maker: bool
    is_best_match: bool
    position: int


class KlineRecord(msgspec.Struct, gc=False):
    """One closed bar. Fields the source did not have are None and are served as JSON null,
    never invented."""

    open_time_ms: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    close_time_ms: int
    quote_volume: str | None
    trade_count: int | None
    taker_buy_base: str | None
    taker_buy_quote: str | None
    ignore: str
    position: int


class DepthSnapshot(msgspec.Struct, gc=False):
    last_update_id: int
    bids: list[list[str]]
    asks: list[list[str]]
    position: int


class DepthDiff(msgspec.Struct, gc=False):
    first_update_id: int
    final_update_id: int
    bids: list[list[str]]
    asks: list[list[str]]
    position: int


def exact_product(price: str, quantity: str) -> str:
    """price * quantity without floats. Binance writes quote quantities with 8 decimals; when the
    exact product needs more, all of its digits are kept rather than rounding."""
    product = Decimal(price) * Decimal(quantity)
    quantized = product.quantize(EIGHT_PLACES)
    if quantized == product:
        return format(quantized, "f")
    return format(product.normalize(), "f")


def json_text(value: str | None) -> str:
    return "null" if value is None else f'"{value}"'


def json_int(value: int | None) -> str:
    return "null" if value is None else str(value)


def json_bool(value: bool) -> str:
    return "true" if value else "false"


def combined_frame(stream: str, data: bytes) -> tuple[bytes, int]:
    """Wrap a raw payload the way /stream connections receive it; returns the frame and the offset
    where the raw payload starts, so /ws connections can be served a slice of the same bytes."""
    prefix = b'{"stream":"' + stream.encode() + b'","data":'
    return prefix + data + b"}", len(prefix)


def trade_event(symbol: str, trade: TradeRecord) -> bytes:
    # E (event time) is not in a trades table; the trade time is the closest recorded value.
    return (
        f'{{"e":"trade","E":{trade.time_ms},"s":"{symbol}","t":{trade.trade_id},'
        f'"p":"{trade.price}","q":"{trade.quantity}","T":{trade.time_ms},'
        f'"m":{json_bool(trade.is_buyer_maker)},"M":{json_bool(trade.is_best_match)}}}'
    ).encode()


def agg_trade_event(symbol: str, agg: AggTradeRecord) -> bytes:
    return (
        f'{{"e":"aggTrade","E":{agg.time_ms},"s":"{symbol}","a":{agg.agg_id},'
        f'"p":"{agg.price}","q":"{agg.quantity}","f":{agg.first_trade_id},'
        f'"l":{agg.last_trade_id},"T":{agg.time_ms},'
        f'"m":{json_bool(agg.is_buyer_maker)},"M":{json_bool(agg.is_best_match)}}}'
    ).encode()


def kline_event(
    symbol: str, interval: str, bar: KlineRecord, *, closed: bool, event_time_ms: int
) -> bytes:
    # f/L (first/last trade id) are not in a klines table: -1 says "unknown".
    return (
        f'{{"e":"kline","E":{event_time_ms},"s":"{symbol}","k":{{'
        f'"t":{bar.open_time_ms},"T":{bar.close_time_ms},"s":"{symbol}","i":"{interval}",'
        f'"f":-1,"L":-1,"o":"{bar.open}","c":"{bar.close}","h":"{bar.high}","l":"{bar.low}",'
        f'"v":"{bar.volume}","n":{json_int(bar.trade_count)},"x":{json_bool(closed)},'
        f'"q":{json_text(bar.quote_volume)},"V":{json_text(bar.taker_buy_base)},'
        f'"Q":{json_text(bar.taker_buy_quote)},"B":"0"}}}}'
    ).encode()
