"""Writes raw rows as Parquet files, one per partition and batch, never a half file.

A file is written under a temporary dot-name in its final directory (Spark and the coverage reader
skip dot-files), made durable, then renamed: a reader, and a crash, only ever see no file or the
whole file. Names come from the rows (see layout), so writing the same rows again finds the file
already there and writes nothing; rows that a file of the same source already covers (same key
range) are left out, so a batch re-read after a crash never stores a row twice.

The calls are blocking: the daemon runs them with asyncio.to_thread.
"""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from bot.durable import fsync_path
from bot.lake.layout import KLINES, LakeLayout, file_name, utc_date
from bot.lake.records import KEY_COLUMNS, SCHEMAS, TIME_COLUMNS, Row


@dataclass
class WriteResult:
    files_written: list[str] = field(default_factory=list)
    files_present: list[str] = field(default_factory=list)  # the same file was already there
    rows_written: int = 0
    rows_already_stored: int = 0

    def add(self, other: WriteResult) -> None:
        self.files_written += other.files_written
        self.files_present += other.files_present
        self.rows_written += other.rows_written
        self.rows_already_stored += other.rows_already_stored


class RawWriter:
    def __init__(self, layout: LakeLayout) -> None:
        self.layout = layout
        # One write at a time per writer: a write whose caller was cancelled goes on in its
        # thread, and the next write must see its file to leave out the rows it covers.
        self._lock = threading.Lock()

    def write(self, kind: str, symbol: str, rows: list[Row], source: str, interval: str | None = None) -> WriteResult:
        """Stores rows of one kind and symbol (any order; a key listed twice is kept once), one
        file per UTC date."""
        if (kind == KLINES) != (interval is not None):
            raise ValueError("klines need an interval; trades and agg_trades have none")
        key, time = KEY_COLUMNS[kind], TIME_COLUMNS[kind]
        by_date: dict[str, dict[int, Row]] = {}
        for row in rows:
            by_date.setdefault(utc_date(row[time]), {}).setdefault(row[key], row)
        result = WriteResult()
        with self._lock:
            for date in sorted(by_date):
                result.add(self._write_partition(kind, symbol, date, interval, by_date[date], source))
        return result

    def _write_partition(self, kind: str, symbol: str, date: str, interval: str | None,
                         rows_by_key: dict[int, Row], source: str) -> WriteResult:
        result = WriteResult()
        covered = [(item.first, item.last) for item in self.layout.files(kind, symbol, date, interval) if item.source == source]
        keys = sorted(key for key in rows_by_key if not any(first <= key <= last for first, last in covered))
        result.rows_already_stored = len(rows_by_key) - len(keys)
        if not keys:
            return result
        directory = self.layout.partition(kind, symbol, date, interval)
        name = file_name(source, keys[0], keys[-1])
        final = f"{directory}/{name}"
        filesystem = self.layout.filesystem
        if filesystem.get_file_info(final).type == pafs.FileType.File:
            result.files_present.append(final)
            result.rows_already_stored += len(keys)
            return result
        table = pa.Table.from_pylist([rows_by_key[key] for key in keys], schema=SCHEMAS[kind])
        filesystem.create_dir(directory, recursive=True)
        # Unique per write: two writers of the same file (a cancelled pass still in its thread and
        # the next one) must never share a temporary file.
        temporary = f"{directory}/.{name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        try:
            pq.write_table(table, temporary, filesystem=filesystem, compression="zstd")
            if self.layout.is_local:
                fsync_path(temporary)
            filesystem.move(temporary, final)
            if self.layout.is_local:
                fsync_path(directory)
        except BaseException:
            try:
                filesystem.delete_file(temporary)
            except (OSError, FileNotFoundError):
                pass
            raise
        result.files_written.append(final)
        result.rows_written = len(keys)
        return result
