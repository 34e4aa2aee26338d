"""Binance's websocket payloads as msgspec schemas, field names exactly as Binance sends them.

bot.ingest.wire decodes frames into these and converts them to domain events. Unknown fields are
ignored (a field Binance adds later does not break ingest); a missing or mistyped one is an error.
The *Text variants keep prices and quantities as the exchange's text, for the ingest path (see
bot.domain.events.DepthUpdateText).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec


class Envelope(msgspec.Struct, gc=False):
    stream: str
    data: msgspec.Raw


class Probe(msgspec.Struct, gc=False):
    """Just enough of an unwrapped frame to tell a control reply or a shutdown notice apart."""

    e: str | None = None
    E: int | None = None
    id: int | str | None = None
    result: object = None
    error: dict[str, object] | None = None
    stream: str | None = None


class Trade(msgspec.Struct, gc=False):
    e: str
    E: int
    s: str
    t: int
    p: Decimal
    q: Decimal
    T: int
    m: bool


class TradeText(msgspec.Struct, gc=False):
    e: str
    E: int
    s: str
    t: int
    p: str
    q: str
    T: int
    m: bool


class AggTrade(msgspec.Struct, gc=False):
    e: str
    E: int
    s: str
    a: int
    p: Decimal
    q: Decimal
    f: int
    l: int  # noqa: E741 - Binance's name for the last trade id
    T: int
    m: bool


class KlineBody(msgspec.Struct, gc=False):
    t: int
    T: int
    s: str
    i: str
    f: int
    L: int
    o: Decimal
    c: Decimal
    h: Decimal
    l: Decimal  # noqa: E741 - Binance's name for the low price
    v: Decimal
    # Binance always sends these four; a replay of a klines file that lacks the columns sends
    # null (still required: a frame without the key is malformed, not "unknown").
    n: int | None
    x: bool
    q: Decimal | None
    V: Decimal | None
    Q: Decimal | None


class Kline(msgspec.Struct, gc=False):
    e: str
    E: int
    s: str
    k: KlineBody


class BookTicker(msgspec.Struct, gc=False):
    u: int
    s: str
    b: Decimal
    B: Decimal
    a: Decimal
    A: Decimal
    e: str | None = None  # futures only ("bookTicker"); spot sends no event type
    E: int | None = None  # futures only


class BookTickerText(msgspec.Struct, gc=False):
    u: int
    s: str
    b: str
    B: str
    a: str
    A: str
    e: str | None = None
    E: int | None = None


class DepthUpdate(msgspec.Struct, gc=False):
    e: str
    E: int
    s: str
    U: int
    u: int
    b: tuple[tuple[Decimal, Decimal], ...]
    a: tuple[tuple[Decimal, Decimal], ...]
    pu: int = -1  # futures only


class DepthUpdateText(msgspec.Struct, gc=False):
    e: str
    E: int
    s: str
    U: int
    u: int
    b: tuple[tuple[str, str], ...]
    a: tuple[tuple[str, str], ...]
    pu: int = -1


class Ticker(msgspec.Struct, gc=False):
    e: str
    E: int
    s: str
    p: Decimal
    P: Decimal
    w: Decimal
    c: Decimal
    Q: Decimal
    b: Decimal
    B: Decimal
    a: Decimal
    A: Decimal
    o: Decimal
    h: Decimal
    l: Decimal  # noqa: E741
    v: Decimal
    q: Decimal
    O: int  # noqa: E741
    C: int
    F: int
    L: int
    n: int


class MiniTicker(msgspec.Struct, gc=False):
    e: str
    E: int
    s: str
    c: Decimal
    o: Decimal
    h: Decimal
    l: Decimal  # noqa: E741
    v: Decimal
    q: Decimal
