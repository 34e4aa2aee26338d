"""Where the raw layer keeps its files (issue 5, contract B), on a local disk or behind a URI.

    raw/klines/interval=1m/symbol=BTCUSDT/date=2025-09-22/rest-1758499200000-1758585540000.parquet
    raw/trades/symbol=BTCUSDT/date=2024-08-08/archive-3735683259-3735684000.parquet
    raw/agg_trades/symbol=XRPETH/date=2019-10-11/archive-<first id>-<last id>.parquet

Hive-style `key=value` directories so Spark discovers the partitions by itself. A file is named by
its source and the first and last key of its rows (open time in ms, or trade id), so the same rows
always give the same name and writing them again is a no-op.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.fs as pafs

KLINES = "klines"
TRADES = "trades"
AGG_TRADES = "agg_trades"
KINDS = (KLINES, TRADES, AGG_TRADES)
# Where raw rows come from, most trusted first: the clean layer and the gate's backtest keep the
# most trusted row of a bar that several sources hold (our own record beats a later refetch).
SOURCES = ("archive", "rest", "file")

_FILE_NAME = re.compile(r"^(?P<source>[a-z]+)-(?P<first>-?\d+)-(?P<last>-?\d+)\.parquet$")
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def utc_date(milliseconds: int) -> str:
    """The UTC calendar date (YYYY-MM-DD) of a time in ms: the `date=` partition of a row."""
    return datetime.fromtimestamp(milliseconds / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def file_name(source: str, first_key: int, last_key: int) -> str:
    if source not in SOURCES:
        raise ValueError(f"unknown raw source {source!r} (known: {', '.join(SOURCES)})")
    return f"{source}-{first_key}-{last_key}.parquet"


@dataclass(frozen=True, slots=True)
class FileRange:
    """What a raw file's name says about it: its source and first/last key, inclusive."""

    source: str
    first: int
    last: int
    path: str


def parse_file_name(name: str, directory: str) -> FileRange | None:
    """None for anything that is not a finished raw file (temporary files start with a dot)."""
    match = _FILE_NAME.match(name)
    if match is None:
        return None
    return FileRange(match["source"], int(match["first"]), int(match["last"]), f"{directory}/{name}")


def open_root(root: str | Path) -> tuple[pafs.FileSystem, str]:
    """(file system, base path) for a lake root: a local path (made absolute) or any URI pyarrow
    understands (file://, s3://, gs://, hdfs://...)."""
    text = str(root)
    if _URI.match(text):
        filesystem, path = pafs.FileSystem.from_uri(text)
        return filesystem, path.rstrip("/")
    return pafs.LocalFileSystem(), str(Path(text).expanduser().resolve())


class LakeLayout:
    """Paths of the raw layer under one root; the file system is pyarrow's, so a URI works too."""

    def __init__(self, root: str | Path) -> None:
        self.root = str(root)
        self.filesystem, self.base = open_root(root)

    @property
    def is_local(self) -> bool:
        return isinstance(self.filesystem, pafs.LocalFileSystem)

    def partition(self, kind: str, symbol: str, date: str, interval: str | None = None) -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown raw kind {kind!r} (known: {', '.join(KINDS)})")
        if (kind == KLINES) != (interval is not None):
            raise ValueError("klines need an interval; trades and agg_trades have none")
        middle = f"interval={interval}/" if interval is not None else ""
        return f"{self.base}/raw/{kind}/{middle}symbol={symbol}/date={date}"

    def files(self, kind: str, symbol: str, date: str, interval: str | None = None) -> list[FileRange]:
        """The finished raw files of one partition, sorted by first key then source."""
        directory = self.partition(kind, symbol, date, interval)
        infos = self.filesystem.get_file_info(pafs.FileSelector(directory, allow_not_found=True))
        found = [parse_file_name(info.base_name, directory) for info in infos if info.type == pafs.FileType.File]
        return sorted((item for item in found if item is not None), key=lambda item: (item.first, item.last, item.source))
