"""The history lake as Spark sees it (contract B): layer paths, the raw klines schema, listing
partitions through Hadoop's FileSystem (so s3a://, hdfs:// and local paths all work), and turning
Spark's read failures into a `LakeError` that names the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from py4j.protocol import Py4JJavaError
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import SparkSession
from pyspark.sql.types import LongType, StringType, StructField, StructType

from bot.sim.source import KLINE_INTERVAL_MS
from spark_batch.errors import LakeError

RAW_KLINES_SCHEMA = StructType(
    [
        StructField("open_time_ms", LongType(), False),
        StructField("close_time_ms", LongType(), False),
        StructField("open", StringType(), False),
        StructField("high", StringType(), False),
        StructField("low", StringType(), False),
        StructField("close", StringType(), False),
        StructField("volume", StringType(), False),
        StructField("quote_volume", StringType(), True),
        StructField("trade_count", LongType(), True),
        StructField("taker_buy_base_volume", StringType(), True),
        StructField("taker_buy_quote_volume", StringType(), True),
        StructField("source", StringType(), False),
        StructField("ingested_at_ns", LongType(), False),
    ]
)

def interval_milliseconds(interval: str) -> int:
    """The project's one table of fixed-length kline intervals ("1M" has no fixed length)."""
    try:
        return KLINE_INTERVAL_MS[interval]
    except KeyError:
        raise ValueError(f"interval must be one of {', '.join(KLINE_INTERVAL_MS)}, got {interval!r}") from None


LAYER_DIRECTORIES = {"raw": "raw/klines", "clean": "clean/klines", "features": "features"}


def layer_path(lake_root: str, layer: str, interval: str, symbol: str | None = None, date: str | None = None) -> str:
    """`<root>/<layer>/klines/interval=<i>[/symbol=<s>[/date=<d>]]`; layer: raw | clean | features."""
    path = f"{lake_root.rstrip('/')}/{LAYER_DIRECTORIES[layer]}/interval={interval}"
    if symbol is not None:
        path += f"/symbol={symbol}"
        if date is not None:
            path += f"/date={date}"
    return path


@dataclass(frozen=True)
class Partition:
    symbol: str
    date: str
    path: str
    data_files: tuple[str, ...]


class LakeFileSystem:
    """Hadoop FileSystem calls through the session's JVM: the same code lists a local directory
    or an object store, with the credentials Spark itself was configured with."""

    def __init__(self, spark: SparkSession) -> None:
        self._jvm = spark.sparkContext._jvm
        self._configuration = spark.sparkContext._jsc.hadoopConfiguration()

    def _status(self, path: str):
        hadoop_path = self._jvm.org.apache.hadoop.fs.Path(path)
        return hadoop_path.getFileSystem(self._configuration), hadoop_path

    def exists(self, path: str) -> bool:
        file_system, hadoop_path = self._status(path)
        return bool(file_system.exists(hadoop_path))

    def children(self, path: str) -> list[tuple[str, str, bool, int]]:
        """(name, full path, is directory, length) of each entry, sorted by name."""
        file_system, hadoop_path = self._status(path)
        if not file_system.exists(hadoop_path):
            return []
        entries = [
            (status.getPath().getName(), status.getPath().toString(), bool(status.isDirectory()), int(status.getLen()))
            for status in file_system.listStatus(hadoop_path)
        ]
        return sorted(entries)


def _hidden(name: str) -> bool:
    # Spark's own convention: _SUCCESS, _temporary, .crc files and writers' temp names are not data.
    return name.startswith(("_", "."))


def list_partitions(file_system: LakeFileSystem, lake_root: str, layer: str, interval: str, symbols: Sequence[str] | None, dates: Iterable[str] | None) -> list[Partition]:
    """The selected partitions of a layer, checked: every selected symbol has data, every
    partition directory holds at least one non-empty data file. Raises LakeError otherwise."""
    interval_path = layer_path(lake_root, layer, interval)
    if symbols is None:
        symbols = [name.split("=", 1)[1] for name, _, directory, _ in file_system.children(interval_path) if directory and name.startswith("symbol=")]
        if not symbols:
            raise LakeError(interval_path, f"no {layer} klines of interval {interval} for any symbol")
    wanted_dates = None if dates is None else set(dates)
    partitions: list[Partition] = []
    for symbol in symbols:
        symbol_path = layer_path(lake_root, layer, interval, symbol)
        selected = [
            (name.split("=", 1)[1], path)
            for name, path, directory, _ in file_system.children(symbol_path)
            if directory and name.startswith("date=") and (wanted_dates is None or name.split("=", 1)[1] in wanted_dates)
        ]
        if not selected:
            which = "" if wanted_dates is None else f" on {', '.join(sorted(wanted_dates))}"
            raise LakeError(symbol_path, f"no {layer} klines for symbol {symbol} interval {interval}{which}")
        for date, path in selected:
            files = [(name, file_path, length) for name, file_path, directory, length in file_system.children(path) if not directory and not _hidden(name)]
            if not files:
                raise LakeError(path, f"empty {layer} partition: no data files")
            for _, file_path, length in files:
                if length == 0:
                    raise LakeError(file_path, "not a Parquet file: it is empty (0 bytes)")
            partitions.append(Partition(symbol, date, path, tuple(file_path for _, file_path, _ in files)))
    return partitions


_FILE_IN_MESSAGE = re.compile(r"((?:file|hdfs|s3a?|gs|abfss?|wasbs?):/[^\s'\"\]\),]+)")


@contextmanager
def read_errors_named(paths: Sequence[str]):
    """Re-raise Spark's failure to read a file (corrupt footer, not Parquet, bad schema) as a
    LakeError naming the file, so an operator knows which one to remove or re-fetch."""
    try:
        yield
    except (CapturedException, Py4JJavaError) as error:
        raise _named_read_error(str(error), paths) from error


def _named_read_error(message: str, paths: Sequence[str]) -> LakeError:
    """The file and the root cause out of Spark's message (a Java stack trace for Py4J errors):
    the last "Caused by:" line is the reader's own words, e.g. "... is not a Parquet file"."""
    found = [candidate.rstrip(".").replace(":///", ":/", 1) for candidate in _FILE_IN_MESSAGE.findall(message)]
    path = next((candidate for candidate in found if candidate.endswith(".parquet")), found[0] if found else ", ".join(paths))
    causes = [line.strip()[len("Caused by:"):].strip() for line in message.splitlines() if line.strip().startswith("Caused by:")]
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    cause = causes[-1] if causes else next((line for line in lines if path in line), lines[0] if lines else "unknown error")
    cause = re.sub(r"^[\w.$]+(Exception|Error): ", "", cause.replace(":///", ":/")).replace(path, "the file")
    return LakeError(path, f"cannot be read as Parquet ({cause[:300]})")
