"""What loading one recording file produces: its events as parallel columns, plus the typed records
the REST side indexes. Loaders fill a RecordingSource; the timeline merges several of them.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.sim.records import AggTradeRecord, DepthDiff, DepthSnapshot, KlineRecord, TradeRecord

# Binance's spot kline intervals; anything else in a file name or a request is an error.
KLINE_INTERVALS = (
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M",
)
# Length in ms of each fixed-length interval (all but 1M).
KLINE_INTERVAL_MS = {
    "1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000,
}

# spot_BTCUSDT_1m_..., futures_um_FILUSDT_1m_..., spot_XRPETH_aggTrades_...,
# spot_BTCUSDT_depth100ms-..., and data.binance.vision's BTCUSDT-1m-2024-01.csv.
_NAME_PATTERN = re.compile(
    r"^(?:spot_|futures_(?:um|cm)_)?(?P<symbol>[A-Z0-9]{4,})(?=[_.-])(?:[_-](?P<kind>[0-9]+[smhdwM]|aggTrades|trades)(?=[_.-]))?"
)


class RecordingError(Exception):
    """A recording that cannot be replayed; the message names the file and, where known, the line."""


@dataclass(frozen=True)
class RecordingSpec:
    """A recording path plus what its file name cannot tell (symbol and interval of table files)."""

    path: Path
    symbol: str | None = None
    interval: str | None = None
    # Refuse a table whose rows are out of time order or repeat a bar / trade id, instead of
    # sorting and de-duplicating it (a backtest must not silently run on a broken file).
    require_order: bool = False
    # Send each recorded bar once, closed, without the update that live streams send before the
    # close (a backtest decides on closed bars only, and the replay is then half as long).
    closed_klines_only: bool = False

    @classmethod
    def of(cls, value: RecordingSpec | str | Path) -> RecordingSpec:
        if isinstance(value, RecordingSpec):
            return value
        return cls(path=Path(value))


@dataclass
class NameHints:
    symbol: str | None
    kind: str | None  # a kline interval, "aggTrades" or "trades"


def hints_from_name(path: Path) -> NameHints:
    match = _NAME_PATTERN.match(path.name)
    if match is None:
        return NameHints(symbol=None, kind=None)
    return NameHints(symbol=match["symbol"], kind=match["kind"])


@dataclass
class RecordingSource:
    """Events of one file in file order. Record `position` fields hold the LOCAL event index until
    the timeline remaps them to global positions."""

    path: str
    times_ns: list[int] = field(default_factory=list)
    # None marks a timeline entry that is never sent: a REST snapshot's moment, or a table row
    # that duplicates a recorded websocket frame.
    streams: list[str | None] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)
    data_offsets: list[int] = field(default_factory=list)
    # Trade id (trade streams) or aggregate id (aggTrade streams), -1 otherwise; the skip-ids fault
    # filters on it without parsing frames.
    item_ids: list[int] = field(default_factory=list)
    # Exchange event time in ms (E, or T for table rows); 0 when the frame has none (bookTicker).
    exchange_ms: list[int] = field(default_factory=list)
    # True when frames are the recorded bytes; table-derived frames are built by the sim.
    recorded_frames: bool = True
    trades: dict[str, list[TradeRecord]] = field(default_factory=dict)
    agg_trades: dict[str, list[AggTradeRecord]] = field(default_factory=dict)
    klines: dict[tuple[str, str], list[KlineRecord]] = field(default_factory=dict)
    depth_snapshots: dict[str, list[DepthSnapshot]] = field(default_factory=dict)
    depth_diffs: dict[str, list[DepthDiff]] = field(default_factory=dict)
    exchange_info: bytes | None = None
    exchange_info_parsed: dict[str, Any] | None = None
    # A recorded GET /api/v3/ticker/24hr answer for all symbols: bytes as recorded, and parsed.
    ticker_24hr: bytes | None = None
    ticker_24hr_parsed: list[dict[str, Any]] | None = None

    def add_event(
        self,
        time_ns: int,
        stream: str | None,
        frame: bytes,
        data_offset: int,
        item_id: int = -1,
        exchange_ms: int = 0,
    ) -> int:
        self.times_ns.append(time_ns)
        self.streams.append(stream)
        self.frames.append(frame)
        self.data_offsets.append(data_offset)
        self.item_ids.append(item_id)
        self.exchange_ms.append(exchange_ms)
        return len(self.times_ns) - 1

    def add_marker(self, time_ns: int) -> int:
        """A moment on the timeline that sends nothing (where a REST snapshot was taken)."""
        return self.add_event(time_ns, None, b"", 0)

    def __len__(self) -> int:
        return len(self.times_ns)


def read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when the name ends in .gz."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RecordingError(f"{path}: recording file not found") from None
    except OSError as error:
        raise RecordingError(f"{path}: cannot read recording: {error}") from error
    if path.name.endswith(".gz"):
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise RecordingError(f"{path}: not a valid gzip file: {error}") from error
    return raw


def base_name(path: Path) -> str:
    """File name without .gz, used to pick a loader by extension."""
    name = path.name
    return name[:-3] if name.endswith(".gz") else name
