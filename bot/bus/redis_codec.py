"""Domain events <-> Redis stream entries.

Each event becomes one stream entry. Decimals are written with `str()`, which gives back the
exchange's own string ('0.02000000' stays '0.02000000'), so a round trip through Redis is exact.

The entry id is `<milliseconds>-<sequence>`: the event's exchange time and its exchange sequence
number (trade id, aggregate trade id, depth `u`, bookTicker `u`; 0 for klines and tickers, whose
time alone is unique). Redis refuses an id that is not larger than the stream's last one, so the
stream itself rejects a duplicate written twice (for example when a batch is retried after a
dropped connection), and the last id tells a restarted daemon where its record ends.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Callable

import msgspec

from bot.domain.events import (
    MILLISECONDS,
    AggTrade,
    BookTicker,
    DepthUpdate,
    EventKind,
    Kline,
    MarketEvent,
    MiniTicker,
    Ticker,
    Trade,
    sequence_of,
)

Fields = dict[bytes, bytes]


def entry_id_parts(event: MarketEvent) -> tuple[int, int]:
    """(milliseconds, sequence) of the stream entry id for an event."""
    match event:
        case Trade() | AggTrade():
            return event.ts_trade // MILLISECONDS, sequence_of(event)
        case DepthUpdate() | BookTicker():
            return event.ts_event // MILLISECONDS, sequence_of(event)
        case Kline():
            return event.open_time // MILLISECONDS, 0
        case _:
            return event.ts_event // MILLISECONDS, 0


def _flag(value: bool) -> str:
    return "1" if value else "0"


_LEVELS = msgspec.json.Encoder(decimal_format="string")


def encode_fields(event: MarketEvent) -> list[object]:
    """The flat field/value list for XADD (and HSET of the latest state)."""
    common = ["symbol", event.symbol, "ts_event", event.ts_event, "ts_init", event.ts_init]
    match event:
        case Trade():
            return common + [
                "trade_id", event.trade_id, "price", str(event.price), "quantity", str(event.quantity),
                "buyer_is_maker", _flag(event.buyer_is_maker), "ts_trade", event.ts_trade,
            ]
        case AggTrade():
            return common + [
                "agg_trade_id", event.agg_trade_id, "price", str(event.price),
                "quantity", str(event.quantity), "first_trade_id", event.first_trade_id,
                "last_trade_id", event.last_trade_id, "buyer_is_maker", _flag(event.buyer_is_maker),
                "ts_trade", event.ts_trade,
            ]
        case BookTicker():
            return common + [
                "update_id", event.update_id, "bid_price", str(event.bid_price),
                "bid_quantity", str(event.bid_quantity), "ask_price", str(event.ask_price),
                "ask_quantity", str(event.ask_quantity),
            ]
        case DepthUpdate():
            return common + [
                "first_update_id", event.first_update_id, "final_update_id", event.final_update_id,
                "previous_final_update_id", event.previous_final_update_id,
                "bids", _LEVELS.encode(event.bids), "asks", _LEVELS.encode(event.asks),
            ]
        case Kline():
            return common + [
                "interval", event.interval, "open_time", event.open_time, "close_time", event.close_time,
                "open", str(event.open), "high", str(event.high), "low", str(event.low),
                "close", str(event.close), "volume", str(event.volume),
                "quote_volume", str(event.quote_volume), "trade_count", event.trade_count,
                "taker_buy_base_volume", str(event.taker_buy_base_volume),
                "taker_buy_quote_volume", str(event.taker_buy_quote_volume),
                "first_trade_id", event.first_trade_id, "last_trade_id", event.last_trade_id,
                "is_closed", _flag(event.is_closed),
            ]
        case _:
            names = [field for field in event.__struct_fields__ if field not in ("symbol", "ts_event", "ts_init")]
            values = [getattr(event, name) for name in names]
            return common + [item for pair in zip(names, (str(v) for v in values)) for item in pair]


# --- decoding, for consumers (the engine, the archiver, tests) -------------------------------


def _text(fields: Fields, name: str) -> str:
    return fields[name.encode()].decode()


def _decimal(fields: Fields, name: str) -> Decimal:
    return Decimal(_text(fields, name))


def _integer(fields: Fields, name: str) -> int:
    return int(fields[name.encode()])


def _boolean(fields: Fields, name: str) -> bool:
    return fields[name.encode()] == b"1"


def _levels(fields: Fields, name: str) -> tuple[tuple[Decimal, Decimal], ...]:
    return tuple((Decimal(p), Decimal(q)) for p, q in msgspec.json.decode(fields[name.encode()]))


def _common(fields: Fields) -> dict[str, object]:
    return {"symbol": _text(fields, "symbol"), "ts_event": _integer(fields, "ts_event"), "ts_init": _integer(fields, "ts_init")}


def _decode_trade(f: Fields) -> Trade:
    return Trade(**_common(f), trade_id=_integer(f, "trade_id"), price=_decimal(f, "price"),
                 quantity=_decimal(f, "quantity"), buyer_is_maker=_boolean(f, "buyer_is_maker"),
                 ts_trade=_integer(f, "ts_trade"))


def _decode_agg_trade(f: Fields) -> AggTrade:
    return AggTrade(**_common(f), agg_trade_id=_integer(f, "agg_trade_id"), price=_decimal(f, "price"),
                    quantity=_decimal(f, "quantity"), first_trade_id=_integer(f, "first_trade_id"),
                    last_trade_id=_integer(f, "last_trade_id"), buyer_is_maker=_boolean(f, "buyer_is_maker"),
                    ts_trade=_integer(f, "ts_trade"))


def _decode_book_ticker(f: Fields) -> BookTicker:
    return BookTicker(**_common(f), update_id=_integer(f, "update_id"), bid_price=_decimal(f, "bid_price"),
                      bid_quantity=_decimal(f, "bid_quantity"), ask_price=_decimal(f, "ask_price"),
                      ask_quantity=_decimal(f, "ask_quantity"))


def _decode_depth(f: Fields) -> DepthUpdate:
    return DepthUpdate(**_common(f), first_update_id=_integer(f, "first_update_id"),
                       final_update_id=_integer(f, "final_update_id"),
                       previous_final_update_id=_integer(f, "previous_final_update_id"),
                       bids=_levels(f, "bids"), asks=_levels(f, "asks"))


def _decode_kline(f: Fields) -> Kline:
    return Kline(**_common(f), interval=_text(f, "interval"), open_time=_integer(f, "open_time"),
                 close_time=_integer(f, "close_time"), open=_decimal(f, "open"), high=_decimal(f, "high"),
                 low=_decimal(f, "low"), close=_decimal(f, "close"), volume=_decimal(f, "volume"),
                 quote_volume=_decimal(f, "quote_volume"), trade_count=_integer(f, "trade_count"),
                 taker_buy_base_volume=_decimal(f, "taker_buy_base_volume"),
                 taker_buy_quote_volume=_decimal(f, "taker_buy_quote_volume"),
                 first_trade_id=_integer(f, "first_trade_id"), last_trade_id=_integer(f, "last_trade_id"),
                 is_closed=_boolean(f, "is_closed"))


def _decode_generic(event_type: type[MarketEvent]) -> Callable[[Fields], MarketEvent]:
    def decode(f: Fields) -> MarketEvent:
        values: dict[str, object] = _common(f)
        for field in msgspec.structs.fields(event_type):
            if field.name not in values:
                raw = _text(f, field.name)
                values[field.name] = int(raw) if field.type is int else Decimal(raw)
        return event_type(**values)  # type: ignore[arg-type]
    return decode


_DECODERS: dict[EventKind, Callable[[Fields], MarketEvent]] = {
    EventKind.TRADE: _decode_trade,
    EventKind.AGG_TRADE: _decode_agg_trade,
    EventKind.BOOK_TICKER: _decode_book_ticker,
    EventKind.DEPTH_UPDATE: _decode_depth,
    EventKind.KLINE: _decode_kline,
    EventKind.TICKER: _decode_generic(Ticker),
    EventKind.MINI_TICKER: _decode_generic(MiniTicker),
}


def decode_fields(kind: EventKind, fields: Fields) -> MarketEvent:
    """Rebuilds the domain event from a stream entry's fields (as bytes, the way redis returns them)."""
    return _DECODERS[kind](fields)
