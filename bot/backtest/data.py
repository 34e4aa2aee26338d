"""A backtest's market data: the user's files, checked, as the exchange would have sent them.

Every input goes through the replay exchange's own loaders (`bot.sim`): a klines, trades or
aggTrades CSV (data.binance.vision's columns, with or without a header, plain or gzipped), a
recorded websocket JSONL, or a Parquet table with the CSV's columns (the history lake's). Each
row becomes the websocket frame Binance would have sent, and the frames are decoded by ingest's
own decoder (`bot.ingest.wire.FrameDecoder`) into the engine's events. So the in-process backtest
sees exactly the events `--through-daemon` sends over the websocket, which is what makes their
trades equal.

Refused with a `DataError` naming the file (and line): a missing or unreadable file, unknown
columns, rows out of time order, a repeated bar or trade id, data of no symbol we can tell.
A gap between bars is a warning naming it: exchanges have outages, the run goes on.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot.domain.events import DepthSnapshot, Kline, MarketEvent, StreamMessage
from bot.ingest.wire import FrameDecoder
from bot.sim.source import KLINE_INTERVAL_MS, RecordingError, RecordingSource, RecordingSpec, base_name
from bot.sim.tables import load_table
from bot.sim.timeline import Timeline, load_recording, merge_sources

_MILLISECOND = 1_000_000
# Kline fields a source may lack (an OHLCV-only file leaves their cells empty).
_OPTIONAL_KLINE_FIELDS = {
    "quote_volume": "quote_volume",
    "trade_count": "trade_count",
    "taker_buy_base": "taker_buy_base_volume",
    "taker_buy_quote": "taker_buy_quote_volume",
}


class DataError(Exception):
    """Input a backtest cannot use; the message names the file and what is wrong with it."""


@dataclass(frozen=True)
class DataSpec:
    """One `--data` argument: `PATH`, or `SYMBOL=PATH` / `SYMBOL:INTERVAL=PATH` when the file
    name does not say (spot_BTCUSDT_1m_..., futures_um_FILUSDT_1m_..., BTCUSDT-1m-2024-01.csv do)."""

    path: Path
    symbol: str | None = None
    interval: str | None = None

    @classmethod
    def parse(cls, text: str) -> DataSpec:
        if "=" not in text:
            return cls(Path(text))
        label, path = text.split("=", 1)
        symbol, _, interval = label.partition(":")
        if not symbol.isalnum() or not symbol.isupper():
            raise DataError(f"--data {text}: expected SYMBOL[:INTERVAL]=PATH with an upper-case symbol such as BTCUSDT")
        return cls(Path(path), symbol, interval or None)


@dataclass
class MarketData:
    """What a backtest runs on. `frames` are (exchange time ns, websocket frame) in replay order:
    the recording `--through-daemon` replays; `events` are the same frames decoded."""

    frames: list[tuple[int, bytes]]
    events: list[MarketEvent]
    symbols: tuple[str, ...]
    streams: tuple[str, ...]  # as ingest.streams names them: kline_1m, trade, aggTrade, ...
    has_depth: bool
    start_ns: int
    end_ns: int
    # (file name, Kline field) pairs whose cells the file leaves empty; strategies that need
    # such a field refuse the data (bot.strategy.refuse_missing_kline_fields).
    missing_kline_fields: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def load_market_data(specs: Sequence[DataSpec], start_ns: int | None = None, end_ns: int | None = None) -> MarketData:
    """Every file loaded, checked and merged into one time-ordered stream of events, cut to
    [start_ns, end_ns) (a bar belongs when it opens at or after the start and closes before the end)."""
    if not specs:
        raise DataError("no --data file given")
    sources = [_load(spec) for spec in specs]
    missing = _missing_kline_fields(sources)  # before merging: the file's name is still known
    try:
        timeline = merge_sources(sources)
    except RecordingError as error:
        raise DataError(str(error)) from None
    warnings = _gap_warnings(timeline)
    frames, events = _decode(timeline, start_ns, end_ns)
    if not events:
        window = f" between {_iso(start_ns)} and {_iso(end_ns)}" if start_ns or end_ns else ""
        raise DataError(f"no market data{window} in {', '.join(str(spec.path) for spec in specs)}")
    streams = sorted({name.split("@", 1)[1] for name in timeline.stream_names()})
    return MarketData(
        frames=frames,
        events=events,
        symbols=tuple(sorted({event.symbol for event in events})),
        streams=tuple(streams),
        has_depth=any(isinstance(event, DepthSnapshot) for event in events) or any(s.startswith("depth") for s in streams),
        start_ns=_event_start(events[0]),
        end_ns=_event_end(events[-1]),
        missing_kline_fields=missing,
        warnings=warnings,
    )


def _load(spec: DataSpec) -> RecordingSource:
    path = spec.path
    if not path.is_file():
        raise DataError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    recording = RecordingSpec(
        path=path, symbol=spec.symbol, interval=spec.interval, require_order=True, closed_klines_only=True,
    )
    try:
        if base_name(path).endswith(".parquet"):
            return load_table(recording, _parquet_as_csv(path))
        return load_recording(recording)
    except RecordingError as error:
        raise DataError(str(error)) from None


def _parquet_as_csv(path: Path) -> bytes:
    """A Parquet table with the CSV's columns (header names as in the project's kline, trade and
    aggTrade CSV files), as CSV text for the same loader. Decimal and string columns keep their
    digits; float columns are written with the shortest repr that reads back the same."""
    import pyarrow.parquet  # imported here: only Parquet inputs pay for it

    try:
        table = pyarrow.parquet.read_table(path)
    except Exception as error:  # pyarrow raises several types for a bad file
        raise DataError(f"{path}: not a readable Parquet file: {error}") from None
    columns = [name for name in table.column_names if name not in ("symbol", "interval")]
    buffer = io.StringIO()
    buffer.write(",".join(columns) + "\n")
    data = [table.column(name).to_pylist() for name in columns]
    for row in zip(*data):
        buffer.write(",".join("" if value is None else str(value) for value in row) + "\n")
    return buffer.getvalue().encode()


def _gap_warnings(timeline: Timeline) -> list[str]:
    warnings = []
    for (symbol, interval), bars in sorted(timeline.market.klines.items()):
        step = KLINE_INTERVAL_MS.get(interval)
        if step is None:
            continue  # 1M bars have no fixed length
        for previous, bar in zip(bars, bars[1:]):
            missing = (bar.open_time_ms - previous.open_time_ms) // step - 1
            if missing > 0:
                warnings.append(
                    f"gap in {symbol} {interval} bars: none from {_iso((previous.open_time_ms + step) * _MILLISECOND)} "
                    f"to {_iso(bar.open_time_ms * _MILLISECOND)} ({missing} bars missing); the run goes on across it"
                )
    return warnings


def _missing_kline_fields(sources: list[RecordingSource]) -> list[tuple[str, str]]:
    missing = set()
    for source in sources:
        for bars in source.klines.values():
            for record_field, kline_field in _OPTIONAL_KLINE_FIELDS.items():
                if any(getattr(bar, record_field) is None for bar in bars):
                    missing.add((Path(source.path).name, kline_field))
    return sorted(missing)


def _decode(timeline: Timeline, start_ns: int | None, end_ns: int | None) -> tuple[list[tuple[int, bytes]], list[MarketEvent]]:
    decoder = FrameDecoder()
    snapshots = {
        record.position: (symbol, record)
        for symbol, records in timeline.market.depth_snapshots.items()
        for record in records
    }
    frames: list[tuple[int, bytes]] = []
    events: list[MarketEvent] = []
    for position, (time_ns, stream, frame) in enumerate(zip(timeline.times_ns, timeline.streams, timeline.frames)):
        if stream is None:
            if position in snapshots:
                symbol, snapshot = snapshots[position]
                event: MarketEvent = DepthSnapshot(
                    symbol=symbol, ts_event=time_ns, ts_init=time_ns, last_update_id=snapshot.last_update_id,
                    bids=tuple(map(tuple, snapshot.bids)), asks=tuple(map(tuple, snapshot.asks)),
                )
                if _inside(event, start_ns, end_ns):
                    events.append(event)
            continue
        try:
            message = decoder.decode(frame, time_ns)
        except (ValueError, TypeError) as error:
            raise DataError(f"{timeline.paths[0] if len(timeline.paths) == 1 else 'data'}: event {position}: {error}") from None
        if not isinstance(message, StreamMessage):
            continue
        if _inside(message.event, start_ns, end_ns):
            frames.append((time_ns, frame))
            events.append(message.event)
    return frames, events


def _inside(event: MarketEvent, start_ns: int | None, end_ns: int | None) -> bool:
    if isinstance(event, Kline):
        first, last = event.open_time, event.close_time
    else:
        first = last = event.ts_event
    return (start_ns is None or first >= start_ns) and (end_ns is None or last < end_ns)


def _event_start(event: MarketEvent) -> int:
    return event.open_time if isinstance(event, Kline) else event.ts_event


def _event_end(event: MarketEvent) -> int:
    return event.close_time if isinstance(event, Kline) else event.ts_event


def _iso(ns: int | None) -> str:
    if ns is None:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


