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
from operator import attrgetter

import msgspec

from bot.domain.events import (
    MILLISECONDS,
    SEQUENCE_FIELDS,
    AggTrade,
    BookTicker,
    DepthSnapshot,
    DepthUpdate,
    EventKind,
    Kline,
    MarketEvent,
    MiniTicker,
    Ticker,
    Trade,
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


def _time_id_parts(event) -> tuple[int, int]:
    return event.sequence // MILLISECONDS, 0


def _sequenced_id_parts(time_field: str, channel: str) -> Callable[[MarketEvent], tuple[int, int]]:
    """Entry id parts read straight from the event's fields (one C attrgetter, no property call)."""
    fields = attrgetter(time_field, SEQUENCE_FIELDS[channel])

    def id_parts(event: MarketEvent) -> tuple[int, int]:
        time_ns, sequence = fields(event)
        return time_ns // MILLISECONDS, sequence

    return id_parts


# Trades are placed by their trade time, the other sequenced channels by their event time. Klines
# and tickers have no sequence field: they are placed by their own time alone (_time_id_parts).
_ID_PARTS_BY_CHANNEL = {
    channel: _sequenced_id_parts("ts_trade" if channel in ("trade", "aggTrade") else "ts_event", channel)
    for channel in SEQUENCE_FIELDS
}


def last_sequence(channel: str, milliseconds: int, sequence: int) -> int | None:
    """The channel sequence number (`event.sequence`) of a stream's last entry id, the reverse of
    entry_id_parts; None for an empty stream."""
    if sequence < 0:
        return None
    return sequence if channel in SEQUENCE_FIELDS else milliseconds * MILLISECONDS


def entry_id_parts(event: MarketEvent) -> tuple[int, int]:
    """(milliseconds, sequence) of the stream entry id for an event."""
    return entry_id_parts_of(event.kind.value)(event)


def entry_id_parts_of(channel: str) -> Callable[[MarketEvent], tuple[int, int]]:
    """entry_id_parts for the events of one channel ('trade', 'kline_1m', ...): what the writer's
    slots keep, sparing each market message the lookup by its kind."""
    return _ID_PARTS_BY_CHANNEL.get(channel, _time_id_parts)


encode_event: Callable[[MarketEvent], bytes] = _ENCODER.encode
"""The event as its record's JSON (bound straight to msgspec: called once per market message)."""


def decode_event(kind: EventKind, data: bytes) -> MarketEvent:
    """Rebuilds the typed event from an entry's `event` field."""
    return _DECODERS[kind].decode(data)


def decode_entry(kind: EventKind, fields: dict[bytes, bytes]) -> MarketEvent:
    """Rebuilds the typed event from a stream entry as redis-py returns it (XRANGE, XREAD)."""
    return _DECODERS[kind].decode(fields[EVENT_FIELD])
