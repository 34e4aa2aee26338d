"""raw -> clean klines (contract B): typed, deduplicated, gaps marked.

- Typed: the exchange's decimal text is parsed to double by Spark's cast (Java's correctly
  rounded parse, the same double Python's float() gives), trade_count stays a long.
- Deduplicated on (interval, symbol, open_time_ms): rows with the same numbers collapse whatever
  their source; when they differ, the most trusted source wins (archive > rest > file; within a
  source the latest ingested), and each such bar counts as one conflict.
- Gaps: `missing_bars_before` = bars missing between a bar and the previous one of its
  symbol/interval among the rows being rebuilt (0 for the first of them: what lies before the
  rebuilt dates is not read).
- Written partitioned by interval/symbol/date, overwriting only the partitions rebuilt (dynamic
  partition overwrite); nothing is written when any input partition is empty or unreadable.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from bot.lake.layout import SOURCES
from spark_batch.errors import LakeError
from spark_batch.lake import (
    RAW_KLINES_SCHEMA,
    LakeFileSystem,
    interval_milliseconds,
    layer_path,
    list_partitions,
    read_errors_named,
)

SOURCE_PRIORITY = SOURCES  # most trusted first
PRICE_COLUMNS = ("open", "high", "low", "close", "volume", "quote_volume", "taker_buy_base_volume", "taker_buy_quote_volume")
# What makes two rows of one bar "the same bar": every number, not where or when it came from.
CONTENT_COLUMNS = ("close_time_ms", *PRICE_COLUMNS, "trade_count")
PARTITION_COLUMNS = ("interval", "symbol", "date")
CLEAN_COLUMNS = ("open_time_ms", *CONTENT_COLUMNS, "source", "ingested_at_ns", "missing_bars_before")


@dataclass(frozen=True)
class CleanCounts:
    rows_read: int
    rows_written: int
    duplicates_dropped: int  # rows read minus bars kept (identical and conflicting repeats)
    conflicts: int  # bars whose repeats disagreed on some number
    gaps: int  # bars with missing_bars_before > 0
    missing_bars: int  # sum of missing_bars_before
    partitions_written: int


def read_raw_klines(spark: SparkSession, lake_root: str, interval: str, symbols: Sequence[str] | None, dates: Iterable[str] | None) -> tuple[DataFrame, list]:
    """The selected raw partitions as a typed frame (columns of contract B's clean layer, without
    the gap column), checked for emptiness before anything is computed."""
    partitions = list_partitions(LakeFileSystem(spark), lake_root, "raw", interval, symbols, dates)
    base_path = layer_path(lake_root, "raw", interval).rsplit("/interval=", 1)[0]
    with read_errors_named([partition.path for partition in partitions]):
        raw = spark.read.schema(RAW_KLINES_SCHEMA).option("basePath", base_path).parquet(*(partition.path for partition in partitions))
    typed = raw.select(
        "open_time_ms",
        "close_time_ms",
        *(F.col(column).cast("double").alias(column) for column in PRICE_COLUMNS),
        "trade_count",
        "source",
        "ingested_at_ns",
        *PARTITION_COLUMNS,
    )
    return typed, partitions


def _check_no_empty_partition(typed: DataFrame, partitions: list) -> None:
    """A partition whose files hold no rows at all is as suspicious as one without files: a
    writer died or an archive came back empty. Refuse it by name rather than build around it."""
    with read_errors_named([partition.path for partition in partitions]):
        rows = {(row["symbol"], row["date"]) for row in typed.groupBy("symbol", "date").count().collect()}
    for partition in partitions:
        if (partition.symbol, partition.date) not in rows:
            raise LakeError(partition.path, "empty raw partition: its files hold no rows")


def deduplicate(typed: DataFrame) -> DataFrame:
    """One row per (interval, symbol, open_time_ms), plus `variants` (distinct contents seen)
    and `copies` (rows seen) for the counts."""
    bar = Window.partitionBy(*PARTITION_COLUMNS[:2], "open_time_ms")
    priority = F.coalesce(
        *(F.when(F.col("source") == source, F.lit(rank)) for rank, source in enumerate(SOURCE_PRIORITY)),
        F.lit(len(SOURCE_PRIORITY)),
    )
    # Every column in the order makes the winner deterministic even among identical rows.
    winner_order = [priority.asc(), F.col("ingested_at_ns").desc(), *(F.col(column).asc_nulls_first() for column in CONTENT_COLUMNS)]
    ranked = (
        typed.withColumn("variants", F.size(F.collect_set(F.struct(*CONTENT_COLUMNS)).over(bar)))
        .withColumn("copies", F.count(F.lit(1)).over(bar))
        .withColumn("rank_in_bar", F.row_number().over(bar.orderBy(*winner_order)))
    )
    return ranked.where(F.col("rank_in_bar") == 1).drop("rank_in_bar")


def mark_gaps(bars: DataFrame, interval: str) -> DataFrame:
    step = interval_milliseconds(interval)
    ordered = Window.partitionBy(*PARTITION_COLUMNS[:2]).orderBy("open_time_ms")
    previous = F.lag("open_time_ms").over(ordered)
    missing = ((F.col("open_time_ms") - previous) / F.lit(step)).cast("long") - 1
    return bars.withColumn("missing_bars_before", F.coalesce(missing, F.lit(0)).cast("int"))


def write_partitions(frame: DataFrame, path: str) -> None:
    """One file per partition, rows in time order: the same input writes the same files."""
    (
        frame.repartition(*PARTITION_COLUMNS)
        .sortWithinPartitions("open_time_ms")
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy(*PARTITION_COLUMNS)
        .parquet(path)
    )


def clean_klines(spark: SparkSession, lake_root: str, symbols: Sequence[str] | None = None, interval: str = "1m", dates: Iterable[str] | None = None) -> CleanCounts:
    """Rebuild the clean klines partitions of `symbols` (all in the raw layer when None) on
    `dates` (all when None). Raises LakeError, writing nothing, on an empty or unreadable raw
    partition or a symbol without raw data."""
    interval_milliseconds(interval)
    typed, partitions = read_raw_klines(spark, lake_root, interval, symbols, dates)
    typed = typed.persist()
    try:
        _check_no_empty_partition(typed, partitions)
        clean = mark_gaps(deduplicate(typed), interval).persist()
        try:
            totals = clean.agg(
                F.sum("copies").alias("rows_read"),
                F.count(F.lit(1)).alias("rows_written"),
                F.sum(F.when(F.col("variants") > 1, 1).otherwise(0)).alias("conflicts"),
                F.sum(F.when(F.col("missing_bars_before") > 0, 1).otherwise(0)).alias("gaps"),
                F.sum("missing_bars_before").alias("missing_bars"),
                F.countDistinct(*PARTITION_COLUMNS).alias("partitions"),
            ).collect()[0]
            write_partitions(clean.select(*CLEAN_COLUMNS, *PARTITION_COLUMNS), layer_path(lake_root, "clean", interval).rsplit("/interval=", 1)[0])
        finally:
            clean.unpersist()
    finally:
        typed.unpersist()
    return CleanCounts(
        rows_read=int(totals["rows_read"]),
        rows_written=int(totals["rows_written"]),
        duplicates_dropped=int(totals["rows_read"]) - int(totals["rows_written"]),
        conflicts=int(totals["conflicts"]),
        gaps=int(totals["gaps"]),
        missing_bars=int(totals["missing_bars"]),
        partitions_written=int(totals["partitions"]),
    )
