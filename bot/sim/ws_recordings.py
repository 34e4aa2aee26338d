"""Loaders for JSON recordings: websocket captures (hftbacktest and cryptofeed line formats), REST
depth snapshot files, and a recorded exchangeInfo body.

Websocket frames are kept as the exact bytes of the recorded `msg` (msgspec's Raw hands back the
original byte span), so the replay sends what Binance sent. Only frames the REST side needs
(trades, aggregate trades, depth diffs, snapshots) are decoded further.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import msgspec

from bot.sim.records import AggTradeRecord, DepthDiff, DepthSnapshot, TradeRecord
from bot.sim.source import RecordingError, RecordingSource, hints_from_name

_NANOS_PER_SECOND = Decimal(1_000_000_000)


class _Envelope(msgspec.Struct):
    msg: msgspec.Raw
    recv_time_ns: int | None = None
    # Raw keeps the recorded digits: a float would lose the last nanosecond digits.
    recv_time_s: msgspec.Raw = msgspec.Raw(b"")


class _SnapshotLine(msgspec.Struct):
    url: str
    recv_time_s: msgspec.Raw
    body: msgspec.Raw


class _Combined(msgspec.Struct):
    stream: str
    data: msgspec.Raw


class _TradeData(msgspec.Struct):
    E: int
    s: str
    t: int
    p: str
    q: str
    T: int
    m: bool
    M: bool


class _AggTradeData(msgspec.Struct):
    E: int
    s: str
    a: int
    p: str
    q: str
    f: int
    l: int  # noqa: E741 - Binance's field name
    T: int
    m: bool
    M: bool


class _DepthData(msgspec.Struct):
    E: int
    s: str
    U: int
    u: int
    b: list[list[str]]
    a: list[list[str]]


class _EventTime(msgspec.Struct):
    E: int = 0


class _SnapshotBody(msgspec.Struct):
    lastUpdateId: int  # noqa: N815 - Binance's field name
    bids: list[list[str]]
    asks: list[list[str]]


_envelope_decoder = msgspec.json.Decoder(_Envelope)
_combined_decoder = msgspec.json.Decoder(_Combined)
_trade_decoder = msgspec.json.Decoder(_TradeData)
_agg_trade_decoder = msgspec.json.Decoder(_AggTradeData)
_depth_decoder = msgspec.json.Decoder(_DepthData)
_event_time_decoder = msgspec.json.Decoder(_EventTime)
_snapshot_line_decoder = msgspec.json.Decoder(_SnapshotLine)
_snapshot_body_decoder = msgspec.json.Decoder(_SnapshotBody)


def seconds_text_to_ns(text: bytes) -> int:
    try:
        return int(Decimal(text.decode()) * _NANOS_PER_SECOND)
    except (InvalidOperation, UnicodeDecodeError) as error:
        raise ValueError(f"not a number of seconds: {text[:40]!r}") from error


def _stream_kind(stream: str) -> str:
    parts = stream.split("@")
    if len(parts) < 2:
        return "other"
    channel = parts[1]
    if channel == "trade":
        return "trade"
    if channel == "aggTrade":
        return "aggTrade"
    if channel == "depth":  # diff depth (@depth, @depth@100ms); partial books are depth5/10/20
        return "depth"
    if channel == "bookTicker":
        return "bookTicker"
    return "other"


def load_websocket_recording(path: Path, content: bytes) -> RecordingSource:
    """One websocket frame per line, {"recv_time_ns"|"recv_time_s": .., "msg": <frame>}."""
    source = RecordingSource(path=str(path))
    hints = hints_from_name(path)
    pending_snapshots: list[tuple[int, _SnapshotBody]] = []
    depth_stream_of_symbol: dict[str, str] = {}
    previous_time = -1
    for line_number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            envelope = _envelope_decoder.decode(line)
            if envelope.recv_time_ns is not None:
                time_ns = envelope.recv_time_ns
            elif envelope.recv_time_s:
                time_ns = seconds_text_to_ns(bytes(envelope.recv_time_s))
            else:
                raise ValueError("line has neither recv_time_ns nor recv_time_s")
            if time_ns < previous_time:
                raise ValueError("receive time goes backwards; the timeline must be in order")
            previous_time = time_ns
            message = bytes(envelope.msg)
            if message.startswith(b'{"lastUpdateId"') or b'"stream"' not in message[:16]:
                body = _snapshot_body_decoder.decode(message)
                position = source.add_marker(time_ns)
                pending_snapshots.append((position, body))
                continue
            _add_stream_frame(source, time_ns, message, depth_stream_of_symbol)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as error:
            raise RecordingError(f"{path}:{line_number}: bad recorded frame: {error}") from error
    for position, body in pending_snapshots:
        # A snapshot body does not name its symbol: take the file's only diff-depth symbol, else
        # the one in the file name.
        if len(depth_stream_of_symbol) == 1:
            symbol = next(iter(depth_stream_of_symbol))
        elif hints.symbol is not None:
            symbol = hints.symbol
        else:
            raise RecordingError(
                f"{path}: cannot tell which symbol a depth snapshot line belongs to; name the "
                "file spot_<SYMBOL>_..."
            )
        source.depth_snapshots.setdefault(symbol, []).append(
            DepthSnapshot(body.lastUpdateId, body.bids, body.asks, position)
        )
    return source


def _add_stream_frame(
    source: RecordingSource, time_ns: int, message: bytes, depth_stream_of_symbol: dict[str, str]
) -> None:
    combined = _combined_decoder.decode(message)
    stream = combined.stream
    data = bytes(combined.data)
    prefix = b'{"stream":"' + stream.encode() + b'","data":'
    if message.startswith(prefix):
        frame, data_offset = message, len(prefix)
    else:
        # Whitespace inside the wrapper: rebuild it compactly; the payload bytes stay as recorded.
        frame, data_offset = prefix + data + b"}", len(prefix)
    kind = _stream_kind(stream)
    position = len(source)
    if kind == "trade":
        trade = _trade_decoder.decode(data)
        source.trades.setdefault(trade.s, []).append(
            TradeRecord(trade.t, trade.p, trade.q, None, trade.T, trade.m, trade.M, position)
        )
        source.add_event(time_ns, stream, frame, data_offset, trade.t, trade.E)
    elif kind == "aggTrade":
        agg = _agg_trade_decoder.decode(data)
        source.agg_trades.setdefault(agg.s, []).append(
            AggTradeRecord(agg.a, agg.p, agg.q, agg.f, agg.l, agg.T, agg.m, agg.M, position)
        )
        source.add_event(time_ns, stream, frame, data_offset, agg.a, agg.E)
    elif kind == "depth":
        depth = _depth_decoder.decode(data)
        # One diff stream per symbol feeds the REST book; @depth and @depth@100ms together would
        # apply the same changes twice.
        if depth_stream_of_symbol.setdefault(depth.s, stream) == stream:
            source.depth_diffs.setdefault(depth.s, []).append(
                DepthDiff(depth.U, depth.u, depth.b, depth.a, position)
            )
        source.add_event(time_ns, stream, frame, data_offset, -1, depth.E)
    elif kind == "bookTicker":
        source.add_event(time_ns, stream, frame, data_offset)
    else:
        event_time = _event_time_decoder.decode(data).E if data.startswith(b"{") else 0
        source.add_event(time_ns, stream, frame, data_offset, -1, event_time)


def load_snapshot_file(path: Path, content: bytes) -> RecordingSource:
    """cryptofeed-style REST depth snapshots: {"url": ".../depth?symbol=X&limit=N", "recv_time_s", "body"}."""
    source = RecordingSource(path=str(path))
    for line_number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = _snapshot_line_decoder.decode(line)
            symbols = parse_qs(urlsplit(record.url).query).get("symbol")
            if not symbols:
                raise ValueError(f"snapshot url names no symbol: {record.url}")
            body = _snapshot_body_decoder.decode(bytes(record.body))
            time_ns = seconds_text_to_ns(bytes(record.recv_time_s))
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as error:
            raise RecordingError(f"{path}:{line_number}: bad depth snapshot line: {error}") from error
        position = source.add_marker(time_ns)
        source.depth_snapshots.setdefault(symbols[0].upper(), []).append(
            DepthSnapshot(body.lastUpdateId, body.bids, body.asks, position)
        )
    # Snapshot files list symbols one after another; the timeline needs them in time order.
    order = sorted(range(len(source)), key=source.times_ns.__getitem__)
    if order != list(range(len(source))):
        _reorder(source, order)
    return source


def _reorder(source: RecordingSource, order: list[int]) -> None:
    new_position = {old: new for new, old in enumerate(order)}
    source.times_ns = [source.times_ns[i] for i in order]
    source.streams = [source.streams[i] for i in order]
    source.frames = [source.frames[i] for i in order]
    source.data_offsets = [source.data_offsets[i] for i in order]
    source.item_ids = [source.item_ids[i] for i in order]
    source.exchange_ms = [source.exchange_ms[i] for i in order]
    for snapshots in source.depth_snapshots.values():
        for snapshot in snapshots:
            snapshot.position = new_position[snapshot.position]


def first_line_keys(content: bytes) -> set[str]:
    """Top-level keys of the first non-empty line, to tell the JSON-lines formats apart."""
    for line in content.splitlines():
        if line.strip():
            try:
                value = msgspec.json.decode(line)
            except msgspec.DecodeError:
                return set()
            return set(value) if isinstance(value, dict) else set()
    return set()


def load_exchange_info(path: Path, content: bytes) -> RecordingSource:
    try:
        body = msgspec.json.decode(content)
    except msgspec.DecodeError as error:
        raise RecordingError(f"{path}: not valid JSON: {error}") from error
    if not isinstance(body, dict) or not isinstance(body.get("symbols"), list):
        raise RecordingError(f"{path}: a .json recording must be an exchangeInfo body with 'symbols'")
    source = RecordingSource(path=str(path))
    source.exchange_info = content.strip()
    source.exchange_info_parsed = body
    return source


def load_ticker_24hr(path: Path, content: bytes) -> RecordingSource:
    """A recorded all-symbols GET /api/v3/ticker/24hr answer: an array of objects with a symbol.

    It is one moment of the exchange, not a series, so it places nothing on the timeline; the
    REST side serves it whatever the cursor's position (as it does exchangeInfo)."""
    try:
        body = msgspec.json.decode(content)
    except msgspec.DecodeError as error:
        raise RecordingError(f"{path}: not valid JSON: {error}") from error
    if not isinstance(body, list):
        raise RecordingError(f"{path}: a 24hr ticker recording must be a JSON array")
    seen: set[str] = set()
    for index, item in enumerate(body):
        symbol = item.get("symbol") if isinstance(item, dict) else None
        if not isinstance(symbol, str) or not symbol:
            raise RecordingError(f"{path}: entry {index} of the 24hr ticker array has no symbol")
        if symbol in seen:
            raise RecordingError(f"{path}: symbol {symbol} appears twice in the 24hr ticker array")
        seen.add(symbol)
    source = RecordingSource(path=str(path))
    source.ticker_24hr = content.strip()
    source.ticker_24hr_parsed = body
    return source
