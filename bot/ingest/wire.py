"""Binance websocket frames -> typed domain events.

The stream name picks the payload's schema (bot.ingest.payloads) and msgspec decodes the payload
straight into typed fields (prices as `Decimal` from the exchange's strings, or as checked text
for the ingest path); for a client's own streams the wrapper and payload are one msgspec call
(FrameDecoder's `streams`). Unknown payload fields are ignored, so a field Binance adds later does
not break ingest; a missing or mistyped field is an error.

Every way a frame can be bad raises `FrameError` with a machine-readable `reason`, so the caller can
count it per stream kind and move on: one bad frame never costs the frames around it.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from itertools import chain, product
from typing import Final, Union

import msgspec

from bot.domain.events import (
    MILLISECONDS,
    AggTrade,
    BookTicker,
    BookTickerText,
    DepthUpdate,
    DepthUpdateText,
    Kline,
    MarketEvent,
    MiniTicker,
    StreamMessage,
    Ticker,
    Trade,
    TradeText,
)
from bot.ingest import payloads
from bot.ingest.shapes import depth_shape, in_depth_shape


class FrameError(ValueError):
    """A frame that could not be turned into an event.

    `reason` is one of REASONS; `kind` is the stream kind when it could be told, else "unknown".
    """

    REASONS: Final = ("malformed_json", "unknown_event", "missing_field", "wrong_type", "invalid_value")

    def __init__(self, reason: str, kind: str, detail: str, frame: bytes) -> None:
        self.reason = reason
        self.kind = kind
        self.detail = detail
        self.sample = frame[:120]
        super().__init__(f"{kind}: {reason}: {detail}")


class ControlReply(msgspec.Struct, frozen=True):
    """The answer to a SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS request, or an error."""

    id: int | str | None
    result: object = None
    error: dict[str, object] | None = None


class ServerShutdown(msgspec.Struct, frozen=True):
    """Binance's notice that this connection is about to be closed for maintenance."""

    ts_event: int


# --- conversion to domain events -------------------------------------------------------------

_IS_FINITE = Decimal.is_finite


def _finite(*values: Decimal) -> None:
    """Decimal also reads "NaN", "sNaN" and "Infinity"; no price or quantity may be one."""
    if not all(map(_IS_FINITE, values)):
        raise ValueError(f"not a finite number in {values}")



def _trade(message: payloads.Trade, ts_init: int) -> Trade:
    if not (message.p.is_finite() and message.q.is_finite()):
        _finite(message.p, message.q)
    return Trade(
        symbol=message.s, ts_event=message.E * MILLISECONDS, ts_init=ts_init, trade_id=message.t, price=message.p,
        quantity=message.q, buyer_is_maker=message.m, ts_trade=message.T * MILLISECONDS,
    )


def _trade_text(message: payloads.TradeText, ts_init: int) -> TradeText:
    if not plain_values(message.p, message.q):
        raise ValueError(f"price {message.p!r} or quantity {message.q!r} is not a plain non-negative number")
    return TradeText(
        symbol=message.s, ts_event=message.E * MILLISECONDS, ts_init=ts_init, trade_id=message.t, price=message.p,
        quantity=message.q, buyer_is_maker=message.m, ts_trade=message.T * MILLISECONDS,
    )


def _agg_trade(message: payloads.AggTrade, ts_init: int) -> AggTrade:
    _finite(message.p, message.q)
    return AggTrade(
        symbol=message.s, ts_event=message.E * MILLISECONDS, ts_init=ts_init, agg_trade_id=message.a, price=message.p,
        quantity=message.q, first_trade_id=message.f, last_trade_id=message.l, buyer_is_maker=message.m,
        ts_trade=message.T * MILLISECONDS,
    )


def _kline(message: payloads.Kline, ts_init: int) -> Kline:
    bar = message.k
    _finite(bar.o, bar.h, bar.l, bar.c, bar.v, *(value for value in (bar.q, bar.V, bar.Q) if value is not None))
    return Kline(
        symbol=message.s, ts_event=message.E * MILLISECONDS, ts_init=ts_init, interval=bar.i,
        open_time=bar.t * MILLISECONDS, close_time=bar.T * MILLISECONDS, open=bar.o, high=bar.h, low=bar.l,
        close=bar.c, volume=bar.v, quote_volume=bar.q, trade_count=bar.n, taker_buy_base_volume=bar.V,
        taker_buy_quote_volume=bar.Q, first_trade_id=bar.f, last_trade_id=bar.L, is_closed=bar.x,
    )


def _book_ticker(message: payloads.BookTicker, ts_init: int) -> BookTicker:
    if not (message.b.is_finite() and message.B.is_finite() and message.a.is_finite() and message.A.is_finite()):
        _finite(message.b, message.B, message.a, message.A)  # raises, naming the values
    return BookTicker(
        symbol=message.s, ts_event=message.E * MILLISECONDS if message.E is not None else ts_init, ts_init=ts_init,
        update_id=message.u, bid_price=message.b, bid_quantity=message.B, ask_price=message.a, ask_quantity=message.A,
    )


def _book_ticker_text(message: payloads.BookTickerText, ts_init: int) -> BookTickerText:
    if not plain_values(message.b, message.B, message.a, message.A):
        raise ValueError(f"a price or quantity of {(message.b, message.B, message.a, message.A)} is not a plain non-negative number")
    return BookTickerText(
        symbol=message.s, ts_event=message.E * MILLISECONDS if message.E is not None else ts_init, ts_init=ts_init,
        update_id=message.u, bid_price=message.b, bid_quantity=message.B, ask_price=message.a, ask_quantity=message.A,
    )


def _depth_update(message: payloads.DepthUpdate, ts_init: int) -> DepthUpdate:
    # One C-level pass over every price and quantity of the diff.
    if not (all(map(_IS_FINITE, chain.from_iterable(message.b))) and all(map(_IS_FINITE, chain.from_iterable(message.a)))):
        raise ValueError("not a finite number in a book level")
    return DepthUpdate(
        symbol=message.s, ts_event=message.E * MILLISECONDS, ts_init=ts_init, first_update_id=message.U,
        final_update_id=message.u, previous_final_update_id=message.pu, bids=message.b, asks=message.a,
    )


def _depth_update_text(message: payloads.DepthUpdateText, ts_init: int) -> DepthUpdateText:
    if not plain_numerals(message.b, message.a):
        raise ValueError("a book level that is not a plain non-negative number")
    return _checked_depth_update_text(message, ts_init)


def _checked_depth_update_text(message: payloads.DepthUpdateText, ts_init: int) -> DepthUpdateText:
    return DepthUpdateText(
        symbol=message.s, ts_event=message.E * MILLISECONDS, ts_init=ts_init, first_update_id=message.U,
        final_update_id=message.u, previous_final_update_id=message.pu, bids=message.b, asks=message.a,
    )


def plain_numerals(*sides: tuple[tuple[str, str], ...]) -> bool:
    """Whether every price and quantity is digits with at most one point ("61837.63000000", "0").

    Stricter than Decimal (no sign, exponent, spaces or NaN: Binance sends none of them) and done
    on all levels at once in C, about a third of the cost of building a Decimal per value: the
    levels are joined with "|", digits dropped, and what is left may only be single points
    between separators."""
    values = 2 * sum(map(len, sides))
    if not values:
        return True
    joined = "|" + "|".join(chain.from_iterable(chain.from_iterable(sides))) + "|"
    if not joined.isascii():  # str.isdigit-style tests would take other scripts' digits
        return False
    text = joined.encode("ascii")
    skeleton = text.translate(None, b"0123456789")
    return (
        not skeleton.translate(None, b".|")  # nothing but digits, points and separators
        and skeleton.count(b"|") == values + 1  # no separator inside a value
        and b".." not in skeleton  # at most one point per value
        and b"||" not in text  # no empty value
        and b"|.|" not in text  # no bare point
    )


# What is left of up to four plain values joined with "|" once their digits are gone: each value
# leaves nothing or its one point.
_SKELETONS = {count: frozenset(b"|".join(parts) for parts in product((b"", b"."), repeat=count)) for count in range(1, 5)}


def plain_values(*values: str) -> bool:
    """plain_numerals for the two to four values of a trade or a book ticker, in a handful of C
    calls: a set lookup of the skeleton replaces the scans, then empty values and bare points
    (which leave the same skeleton as a valid value) are refused by name."""
    joined = "|".join(values)
    return (
        joined.isascii()
        and joined.encode("ascii").translate(None, b"0123456789") in _SKELETONS[len(values)]
        and "" not in values
        and "." not in values
    )


def _ticker(message: payloads.Ticker, ts_init: int) -> Ticker:
    _finite(message.p, message.P, message.w, message.c, message.Q, message.b, message.B, message.a, message.A, message.o, message.h, message.l, message.v, message.q)
    return Ticker(
        symbol=message.s, ts_event=message.E * MILLISECONDS, ts_init=ts_init, price_change=message.p,
        price_change_percent=message.P, weighted_average_price=message.w, last_price=message.c, last_quantity=message.Q,
        best_bid_price=message.b, best_bid_quantity=message.B, best_ask_price=message.a, best_ask_quantity=message.A,
        open_price=message.o, high_price=message.h, low_price=message.l, volume=message.v, quote_volume=message.q,
        open_time=message.O * MILLISECONDS, close_time=message.C * MILLISECONDS, first_trade_id=message.F,
        last_trade_id=message.L, trade_count=message.n,
    )


def _mini_ticker(message: payloads.MiniTicker, ts_init: int) -> MiniTicker:
    _finite(message.c, message.o, message.h, message.l, message.v, message.q)
    return MiniTicker(
        symbol=message.s, ts_event=message.E * MILLISECONDS, ts_init=ts_init, close_price=message.c,
        open_price=message.o, high_price=message.h, low_price=message.l, volume=message.v, quote_volume=message.q,
    )


class _Schema(msgspec.Struct, frozen=True):
    kind: str
    event_type: str  # the expected `e` field
    event_type_optional: bool  # True where some venues leave `e` out (spot bookTicker)
    decoder: msgspec.json.Decoder
    convert: object


def _schema(kind: str, event_type: str, wire: type, convert: object, event_type_optional: bool = False) -> _Schema:
    return _Schema(kind, event_type, event_type_optional, msgspec.json.Decoder(wire), convert)


_TRADE = _schema("trade", "trade", payloads.Trade, _trade)
_AGG_TRADE = _schema("aggTrade", "aggTrade", payloads.AggTrade, _agg_trade)
_KLINE = _schema("kline", "kline", payloads.Kline, _kline)
_BOOK_TICKER = _schema("bookTicker", "bookTicker", payloads.BookTicker, _book_ticker, event_type_optional=True)
_DEPTH = _schema("depthUpdate", "depthUpdate", payloads.DepthUpdate, _depth_update)
_DEPTH_TEXT = _schema("depthUpdate", "depthUpdate", payloads.DepthUpdateText, _depth_update_text)
_TRADE_TEXT = _schema("trade", "trade", payloads.TradeText, _trade_text)
_BOOK_TICKER_TEXT = _schema("bookTicker", "bookTicker", payloads.BookTickerText, _book_ticker_text, event_type_optional=True)
# What prices_as_text swaps in: the kinds frequent enough that their Decimals cost ingest the most.
_AS_TEXT = {_DEPTH: _DEPTH_TEXT, _TRADE: _TRADE_TEXT, _BOOK_TICKER: _BOOK_TICKER_TEXT}
_TICKER = _schema("ticker", "24hrTicker", payloads.Ticker, _ticker)
_MINI_TICKER = _schema("miniTicker", "24hrMiniTicker", payloads.MiniTicker, _mini_ticker)


def stream_kind(stream: str) -> str | None:
    """The event kind a stream name carries, e.g. 'btcusdt@depth@100ms' -> 'depthUpdate'."""
    schema = _schema_for_stream(stream)
    return schema.kind if schema is not None else None


def _schema_for_stream(stream: str) -> _Schema | None:
    _, _, suffix = stream.partition("@")
    if suffix == "trade":
        return _TRADE
    if suffix == "aggTrade":
        return _AGG_TRADE
    if suffix.startswith("kline_"):
        return _KLINE
    if suffix == "bookTicker":
        return _BOOK_TICKER
    if suffix == "depth" or suffix.startswith("depth@"):
        return _DEPTH
    if suffix == "ticker":
        return _TICKER
    if suffix == "miniTicker":
        return _MINI_TICKER
    return None


_ENVELOPE = msgspec.json.Decoder(payloads.Envelope)
_PROBE = msgspec.json.Decoder(payloads.Probe)


def _classify(error: msgspec.ValidationError) -> str:
    text = str(error)
    if text.startswith("Object missing required field"):
        return "missing_field"
    if text.startswith("Expected"):
        return "wrong_type"
    return "invalid_value"


_STREAM_PREFIX = b'{"stream":"'
_DATA_INFIX = b'","data":'


class FrameDecoder:
    """Decodes combined-stream frames.

    prices_as_text: depth diffs, trades and book tickers become DepthUpdateText, TradeText and
    BookTickerText (prices and quantities kept as the exchange's checked text) instead of their
    Decimal twins; the ingest path, which only records them, uses it. See DepthUpdateText for why.

    streams: the stream names expected (a client's subscriptions). Their frames are decoded whole
    by one msgspec decoder, a tagged union with one member per stream (the tag is the `stream`
    field): the wrapper, the choice of schema and the payload in a single C call. Cutting the
    payload out of the bytes in Python and picking its schema cost three times the decoding of
    a book ticker. Other frames take the paths below.
    """

    def __init__(self, prices_as_text: bool = False, streams: Iterable[str] = ()) -> None:
        self._schemas: dict[bytes, tuple[str, _Schema]] = {}
        self._prices_as_text = prices_as_text
        # wrapper type -> (stream, schema, the skeleton of its depth diffs in Binance's shape or b"")
        self._by_wrapper: dict[type, tuple[str, _Schema, bytes]] = {}
        for stream in dict.fromkeys(streams):
            schema = self._schema_for(stream)
            if schema is not None:
                wrapper = msgspec.defstruct(
                    f"_Frame{len(self._by_wrapper)}", [("data", schema.decoder.type)], tag_field="stream", tag=stream, gc=False,
                )
                shape = depth_shape(stream) if schema is _DEPTH_TEXT and stream.isascii() else b""
                self._by_wrapper[wrapper] = (stream, schema, shape)
        self._wrapped = msgspec.json.Decoder(Union[tuple(self._by_wrapper)]) if self._by_wrapper else None  # type: ignore[arg-type]

    def _schema_for(self, stream: str) -> _Schema | None:
        schema = _schema_for_stream(stream)
        return _AS_TEXT.get(schema, schema) if self._prices_as_text and schema is not None else schema

    def decode(self, frame: bytes | str, ts_init: int) -> StreamMessage | ControlReply | ServerShutdown:
        if self._wrapped is not None:
            try:
                wrapped = self._wrapped.decode(frame)
            except (msgspec.DecodeError, UnicodeDecodeError):
                pass  # another stream, a control message or a bad frame: the paths below tell which
            else:
                stream, schema, shape = self._by_wrapper[type(wrapped)]
                wire = wrapped.data  # type: ignore[attr-defined]
                if wire.e == schema.event_type or (wire.e is None and schema.event_type_optional):
                    if shape and type(frame) is bytes and in_depth_shape(frame, shape):
                        return StreamMessage(stream, _checked_depth_update_text(wire, ts_init))
                    try:
                        return StreamMessage(stream, schema.convert(wire, ts_init))  # type: ignore[operator]
                    except ValueError:
                        pass
        # Fast path for the shape Binance always sends, `{"stream":"<name>","data":<payload>}`:
        # cut the payload out of the bytes instead of decoding the wrapper first. Anything else
        # takes the general path below, which names what is wrong.
        if type(frame) is bytes and frame.startswith(_STREAM_PREFIX) and frame.endswith(b"}"):
            end = frame.find(_DATA_INFIX, 11)
            if end > 0:
                name = frame[11:end]
                known = self._schemas.get(name)
                if known is None and name.isascii() and b'"' not in name and b"\\" not in name:
                    schema = self._schema_for(name.decode("ascii"))
                    if schema is not None:
                        known = self._schemas[name] = (name.decode("ascii"), schema)
                if known is not None:
                    # _decode_payload inlined: this runs once per market message.
                    stream, schema = known
                    try:
                        wire = schema.decoder.decode(frame[end + 9:-1])
                        if wire.e == schema.event_type or (wire.e is None and schema.event_type_optional):
                            return StreamMessage(stream, schema.convert(wire, ts_init))  # type: ignore[operator]
                    except (msgspec.DecodeError, ValueError, UnicodeDecodeError):
                        pass  # rare: let the general path decide what exactly is wrong
        return self._decode_general(frame, ts_init)

    def _decode_general(self, frame: bytes | str, ts_init: int) -> StreamMessage | ControlReply | ServerShutdown:
        try:
            return self._decode_wrapped(frame, ts_init)
        except UnicodeDecodeError as error:  # websockets hands us raw bytes: UTF-8 is ours to check
            raise FrameError("malformed_json", "unknown", f"not UTF-8: {error.reason}", _as_bytes(frame)) from None

    def _decode_wrapped(self, frame: bytes | str, ts_init: int) -> StreamMessage | ControlReply | ServerShutdown:
        try:
            envelope = _ENVELOPE.decode(frame)
        except msgspec.ValidationError:  # valid JSON, but not a stream message (a subclass: test it first)
            return self._decode_unwrapped(frame)
        except msgspec.DecodeError as error:
            raise FrameError("malformed_json", "unknown", str(error), _as_bytes(frame)) from None
        schema = self._schema_for(envelope.stream)
        if schema is None:
            raise FrameError("unknown_event", "unknown", f"unknown stream {envelope.stream!r}", _as_bytes(frame))
        return StreamMessage(envelope.stream, self._decode_payload(schema, envelope.data, ts_init, frame))

    def _decode_payload(self, schema: _Schema, payload: bytes, ts_init: int, frame: bytes | str) -> MarketEvent:
        try:
            wire = schema.decoder.decode(payload)
        except msgspec.ValidationError as error:
            raise FrameError(_classify(error), schema.kind, str(error), _as_bytes(frame)) from None
        except msgspec.DecodeError as error:
            raise FrameError("malformed_json", schema.kind, str(error), _as_bytes(frame)) from None
        if wire.e != schema.event_type and not (wire.e is None and schema.event_type_optional):
            raise FrameError("unknown_event", schema.kind, f"event type {wire.e!r} on a {schema.kind} stream", _as_bytes(frame))
        try:
            return schema.convert(wire, ts_init)  # type: ignore[operator, no-any-return]
        except ValueError as error:
            raise FrameError("invalid_value", schema.kind, str(error), _as_bytes(frame)) from None

    def _decode_unwrapped(self, frame: bytes | str) -> ControlReply | ServerShutdown:
        try:
            probe = _PROBE.decode(frame)
        except msgspec.ValidationError as error:
            raise FrameError(_classify(error), "unknown", str(error), _as_bytes(frame)) from None
        if probe.e == "serverShutdown":
            return ServerShutdown(ts_event=(probe.E or 0) * MILLISECONDS)
        if probe.id is not None or probe.error is not None:
            return ControlReply(id=probe.id, result=probe.result, error=probe.error)
        if probe.stream is not None:
            raise FrameError("missing_field", "unknown", "combined frame without `data`", _as_bytes(frame))
        raise FrameError("unknown_event", "unknown", "neither a stream message nor a control reply", _as_bytes(frame))


def _as_bytes(frame: bytes | str) -> bytes:
    return frame if isinstance(frame, bytes) else frame.encode("utf-8", "replace")
