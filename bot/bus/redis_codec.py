"""Domain events <-> Redis stream entries.

Each event becomes one stream entry with one field, `event`: the event as JSON, its decimals
written as the exchange's own strings ('0.02000000' stays '0.02000000') and its times as integer
nanoseconds. msgspec writes and reads that JSON in C, straight from and into the typed event, so
a round trip through Redis is exact and costs well under a microsecond per event.

The entry id is `<milliseconds>-<sequence>`: the event's exchange time and its exchange sequence
number (trade id, aggregate trade id, depth `u`, bookTicker `u`; 0 for klines and tickers, whose
time alone is unique). Redis refuses an id that is not larger than the stream's last one, so the
stream itself rejects a duplicate written twice (for example when a batch is retried after a
dropped connection), and the last id tells a restarted daemon where its record ends.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from bot.domain.events import (
    MILLISECONDS,
    AggTrade,
    BookTicker,
    BookTickerText,
    DepthSnapshot,
    DepthUpdate,
    DepthUpdateText,
    EventKind,
    Kline,
    MarketEvent,
    MiniTicker,
    Ticker,
    Trade,
    TradeText,
)

EVENT_FIELD = b"event"

_ENCODER = msgspec.json.Encoder()
_DECODERS: dict[EventKind, msgspec.json.Decoder] = {
    EventKind.TRADE: msgspec.json.Decoder(Trade),
    EventKind.AGG_TRADE: msgspec.json.Decoder(AggTrade),
    EventKind.KLINE: msgspec.json.Decoder(Kline),
    EventKind.BOOK_TICKER: msgspec.json.Decoder(BookTicker),
    EventKind.DEPTH_UPDATE: msgspec.json.Decoder(DepthUpdate),
    EventKind.DEPTH_SNAPSHOT: msgspec.json.Decoder(DepthSnapshot),
    EventKind.TICKER: msgspec.json.Decoder(Ticker),
    EventKind.MINI_TICKER: msgspec.json.Decoder(MiniTicker),
}


def _trade_id_parts(event) -> tuple[int, int]:
    return event.ts_trade // MILLISECONDS, event.sequence


def _update_id_parts(event) -> tuple[int, int]:
    return event.ts_event // MILLISECONDS, event.sequence


def _time_id_parts(event) -> tuple[int, int]:
    return event.sequence // MILLISECONDS, 0


_ID_PARTS = {
    Trade: _trade_id_parts,
    TradeText: _trade_id_parts,
    AggTrade: _trade_id_parts,
    DepthUpdate: _update_id_parts,
    DepthSnapshot: _update_id_parts,
    DepthUpdateText: _update_id_parts,
    BookTicker: _update_id_parts,
    BookTickerText: _update_id_parts,
    Kline: _time_id_parts,
    Ticker: _time_id_parts,
    MiniTicker: _time_id_parts,
}


def last_sequence(channel: str, milliseconds: int, sequence: int) -> int | None:
    """The channel sequence number (`event.sequence`) of a stream's last entry id, the reverse of
    entry_id_parts; None for an empty stream."""
    if sequence < 0:
        return None
    time_keyed = channel.startswith("kline_") or channel in ("ticker", "miniTicker")
    return milliseconds * MILLISECONDS if time_keyed else sequence


def entry_id_parts(event: MarketEvent) -> tuple[int, int]:
    """(milliseconds, sequence) of the stream entry id for an event."""
    return _ID_PARTS[type(event)](event)


# The same per channel, reading the fields directly: the writer's slots keep theirs, sparing each
# market message a type lookup and a property call.
def _trade_parts(event: Trade | TradeText) -> tuple[int, int]:
    return event.ts_trade // MILLISECONDS, event.trade_id


def _book_ticker_parts(event: BookTicker | BookTickerText) -> tuple[int, int]:
    return event.ts_event // MILLISECONDS, event.update_id


def _depth_parts(event: DepthUpdate | DepthUpdateText) -> tuple[int, int]:
    return event.ts_event // MILLISECONDS, event.final_update_id


_ID_PARTS_BY_CHANNEL: dict[str, Callable[[MarketEvent], tuple[int, int]]] = {
    "trade": _trade_parts,  # type: ignore[dict-item]
    "bookTicker": _book_ticker_parts,  # type: ignore[dict-item]
    "depthUpdate": _depth_parts,  # type: ignore[dict-item]
}


def entry_id_parts_of(channel: str) -> Callable[[MarketEvent], tuple[int, int]]:
    """entry_id_parts for the events of one channel ('trade', 'kline_1m', ...)."""
    return _ID_PARTS_BY_CHANNEL.get(channel, entry_id_parts)


encode_event: Callable[[MarketEvent], bytes] = _ENCODER.encode
"""The event as its record's JSON (bound straight to msgspec: called once per market message)."""


def decode_event(kind: EventKind, data: bytes) -> MarketEvent:
    """Rebuilds the typed event from an entry's `event` field."""
    return _DECODERS[kind].decode(data)


def decode_entry(kind: EventKind, fields: dict[bytes, bytes]) -> MarketEvent:
    """Rebuilds the typed event from a stream entry as redis-py returns it (XRANGE, XREAD)."""
    return _DECODERS[kind].decode(fields[EVENT_FIELD])
