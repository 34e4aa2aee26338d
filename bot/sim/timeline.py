"""Loading recordings and merging them into one timeline: the exchange's single sequence of events.

A position on the timeline is an index into these columns. The replay cursor is a position; the
REST side shows a record only once the cursor has passed its position.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.sim.records import AggTradeRecord, DepthDiff, DepthSnapshot, KlineRecord, TradeRecord
from bot.sim.source import RecordingError, RecordingSource, RecordingSpec, base_name, read_bytes
from bot.sim.tables import load_table
from bot.sim.ws_recordings import (
    first_line_keys,
    load_exchange_info,
    load_snapshot_file,
    load_ticker_24hr,
    load_websocket_recording,
)

RECORDINGS_DIRECTORY = Path(__file__).parent / "recordings"


def load_recording(spec: RecordingSpec) -> RecordingSource:
    """Pick the loader from the extension and, for JSON lines, the first line's keys."""
    path = spec.path
    name = base_name(path)
    if name.endswith(".csv"):
        return load_table(spec, read_bytes(path))
    if name.endswith(".jsonl"):
        content = read_bytes(path)
        keys = first_line_keys(content)
        if "msg" in keys:
            return load_websocket_recording(path, content)
        if {"url", "body"} <= keys:
            return load_snapshot_file(path, content)
        raise RecordingError(
            f"{path}:1: unknown JSON-lines format (keys {sorted(keys)}); expected websocket frames "
            "{recv_time_ns|recv_time_s, msg} or REST snapshots {url, recv_time_s, body}"
        )
    if name.endswith(".json"):
        content = read_bytes(path)
        # An exchangeInfo body is an object; an all-symbols 24 h ticker answer is an array.
        if content.lstrip().startswith(b"["):
            return load_ticker_24hr(path, content)
        return load_exchange_info(path, content)
    raise RecordingError(f"{path}: unknown recording format; expected .jsonl, .csv or .json (optionally .gz)")


@dataclass
class MarketRecords:
    """Everything the REST side serves, keyed by symbol, positions already global."""

    trades: dict[str, list[TradeRecord]] = field(default_factory=dict)
    agg_trades: dict[str, list[AggTradeRecord]] = field(default_factory=dict)
    klines: dict[tuple[str, str], list[KlineRecord]] = field(default_factory=dict)
    depth_snapshots: dict[str, list[DepthSnapshot]] = field(default_factory=dict)
    depth_diffs: dict[str, list[DepthDiff]] = field(default_factory=dict)
    exchange_info: bytes | None = None  # served byte for byte when unfiltered
    exchange_info_parsed: dict[str, Any] | None = None
    ticker_24hr: bytes | None = None  # served byte for byte when unfiltered
    ticker_24hr_parsed: list[dict[str, Any]] | None = None

    def recorded_symbols(self) -> set[str]:
        symbols = set(self.trades) | set(self.agg_trades) | set(self.depth_snapshots)
        symbols |= {symbol for symbol, _ in self.klines}
        return symbols


@dataclass
class Timeline:
    times_ns: list[int]
    streams: list[str | None]
    frames: list[bytes]
    data_offsets: list[int]
    item_ids: list[int]
    # Highest exchange time (ms) seen up to each position: the replay's answer to GET /time.
    server_ms: list[int]
    market: MarketRecords
    paths: list[str]

    def __len__(self) -> int:
        return len(self.times_ns)

    def server_time_ms(self, position: int) -> int:
        if not self.server_ms:
            return 0
        return self.server_ms[min(max(position - 1, 0), len(self.server_ms) - 1)]

    def stream_names(self) -> set[str]:
        return {stream for stream in self.streams if stream is not None}


def load_timeline(recordings: list[RecordingSpec | str | Path]) -> Timeline:
    """Blocking: reads and parses every file. Call it from a worker thread."""
    if not recordings:
        raise RecordingError("no recordings given: the replay exchange never fabricates data")
    sources = [load_recording(RecordingSpec.of(item)) for item in recordings]
    return merge_sources(sources)


def merge_sources(sources: list[RecordingSource]) -> Timeline:
    _hide_table_duplicates(sources)
    order = _merged_order(sources)
    global_position = [[0] * len(source) for source in sources]
    times_ns: list[int] = []
    streams: list[str | None] = []
    frames: list[bytes] = []
    data_offsets: list[int] = []
    item_ids: list[int] = []
    server_ms: list[int] = []
    latest_ms = 0
    for position, (source_number, local) in enumerate(order):
        source = sources[source_number]
        global_position[source_number][local] = position
        times_ns.append(source.times_ns[local])
        streams.append(source.streams[local])
        frames.append(source.frames[local])
        data_offsets.append(source.data_offsets[local])
        item_ids.append(source.item_ids[local])
        latest_ms = max(latest_ms, source.exchange_ms[local])
        server_ms.append(latest_ms)
    # Before the first event that carries an exchange time, answer with that first time.
    first_known = next((value for value in server_ms if value), 0)
    server_ms = [value or first_known for value in server_ms]
    market = _merge_market(sources, global_position)
    return Timeline(
        times_ns, streams, frames, data_offsets, item_ids, server_ms, market, [s.path for s in sources]
    )


def _merged_order(sources: list[RecordingSource]) -> list[tuple[int, int]]:
    if len(sources) == 1:
        return [(0, local) for local in range(len(sources[0]))]
    # Ties keep the order of the recordings list, then file order.
    keyed = heapq.merge(*(_keyed(number, source) for number, source in enumerate(sources)))
    return [(number, local) for _, number, local in keyed]


def _keyed(number: int, source: RecordingSource) -> Iterator[tuple[int, int, int]]:
    for local, time_ns in enumerate(source.times_ns):
        yield time_ns, number, local


def _hide_table_duplicates(sources: list[RecordingSource]) -> None:
    """A trades CSV may cover the same trades as a websocket recording: the recorded frames win,
    the table's duplicates stay on the timeline as silent entries and leave the REST index."""
    recorded_ids: dict[str, set[int]] = {}
    for source in sources:
        if source.recorded_frames:
            for stream, item_id in zip(source.streams, source.item_ids):
                if stream is not None and item_id >= 0:
                    recorded_ids.setdefault(stream, set()).add(item_id)
    if not recorded_ids:
        return
    for source in sources:
        if source.recorded_frames:
            continue
        hidden: set[int] = set()
        for local, (stream, item_id) in enumerate(zip(source.streams, source.item_ids)):
            if stream is not None and item_id in recorded_ids.get(stream, ()):
                source.streams[local] = None
                hidden.add(local)
        if hidden:
            for symbol, trades in source.trades.items():
                source.trades[symbol] = [t for t in trades if t.position not in hidden]
            for symbol, aggs in source.agg_trades.items():
                source.agg_trades[symbol] = [a for a in aggs if a.position not in hidden]


def _merge_market(sources: list[RecordingSource], global_position: list[list[int]]) -> MarketRecords:
    market = MarketRecords()
    for number, source in enumerate(sources):
        remap = global_position[number]
        groups: list[tuple[dict, dict]] = [
            (market.trades, source.trades),
            (market.agg_trades, source.agg_trades),
            (market.klines, source.klines),
            (market.depth_snapshots, source.depth_snapshots),
            (market.depth_diffs, source.depth_diffs),
        ]
        for merged, own in groups:
            for key, records in own.items():
                for record in records:
                    record.position = remap[record.position]
                merged.setdefault(key, []).extend(records)
        if source.exchange_info is not None:
            if market.exchange_info is not None:
                raise RecordingError(f"{source.path}: a second exchangeInfo recording; give only one")
            market.exchange_info = source.exchange_info
            market.exchange_info_parsed = source.exchange_info_parsed
        if source.ticker_24hr is not None:
            if market.ticker_24hr is not None:
                raise RecordingError(f"{source.path}: a second 24hr ticker recording; give only one")
            market.ticker_24hr = source.ticker_24hr
            market.ticker_24hr_parsed = source.ticker_24hr_parsed
    for symbol, trades in market.trades.items():
        market.trades[symbol] = _unique_sorted(trades, "trade_id")
    for symbol, aggs in market.agg_trades.items():
        market.agg_trades[symbol] = _unique_sorted(aggs, "agg_id")
    for key, bars in market.klines.items():
        market.klines[key] = _unique_sorted(bars, "open_time_ms")
    for snapshots in market.depth_snapshots.values():
        snapshots.sort(key=lambda snapshot: snapshot.position)
    for diffs in market.depth_diffs.values():
        diffs.sort(key=lambda diff: diff.position)
    return market


def _unique_sorted(records: list, key_name: str) -> list:
    records.sort(key=lambda record: (getattr(record, key_name), record.position))
    unique = []
    last_key = None
    for record in records:
        key = getattr(record, key_name)
        if key != last_key:
            unique.append(record)
            last_key = key
    return unique
