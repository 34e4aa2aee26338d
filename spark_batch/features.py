"""clean -> features (contract B's features layer, contract A's columns), and the whole batch.

Two engines inside one job, chosen by what each feature is:
- windowed and lagged features are Spark window functions over (symbol, interval) ordered by
  open_time_ms with row frames (`rowsBetween`): Spark recomputes each frame's aggregate, so
  nothing drifts over a long history;
- recursive features (EMA, MACD, RSI, ATR) depend on every earlier bar, which a bounded frame
  cannot express: they run per symbol with applyInPandas through `feature_frame`, the same
  seeded recursions as the daemon's calculators.
Every feature is null until its warm-up is complete, as in contract A.

`python -m spark_batch.features --lake ROOT [--master URL]` (also under spark-submit) runs
`build_features` and prints its counts as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from spark_batch.clean import clean_klines, write_partitions
from spark_batch.feature_frame import EPOCH_WEEKDAY, MILLISECONDS_PER_DAY, MILLISECONDS_PER_HOUR, recursive_features
from spark_batch.lake import LakeFileSystem, layer_path, list_partitions, read_errors_named
from spark_batch.spec_table import FEATURE_SPEC_VERSION, FEATURE_TABLE, RECURSIVE_KINDS, FeatureRow

GROUP_COLUMNS = ("interval", "symbol")
BAR_COLUMNS = ("open_time_ms", "high", "low", "close", "volume", "taker_buy_base_volume", "trade_count")


@dataclass(frozen=True)
class BuildCounts:
    rows_read: int  # raw rows
    rows_written: int  # clean rows
    feature_rows_written: int
    duplicates_dropped: int
    conflicts: int
    gaps: int
    missing_bars: int


def read_clean_bars(spark: SparkSession, lake_root: str, interval: str, symbols: Sequence[str] | None) -> DataFrame:
    """Every clean bar of the symbols: the recursions need the whole history, not just the dates
    being rebuilt."""
    partitions = list_partitions(LakeFileSystem(spark), lake_root, "clean", interval, symbols, None)
    base_path = layer_path(lake_root, "clean", interval).rsplit("/interval=", 1)[0]
    with read_errors_named([partition.path for partition in partitions]):
        clean = spark.read.option("basePath", base_path).parquet(*(partition.path for partition in partitions))
    return clean.select(*GROUP_COLUMNS, *BAR_COLUMNS)


def _window_column(row: FeatureRow, position: Column, ordered: Window) -> Column:
    kind, parameters = row.kind, row.parameters

    def over_last(period: int):
        return ordered.rowsBetween(-(period - 1), Window.currentRow)

    def warm(period: int, value: Column) -> Column:
        return F.when(position >= period, value)

    close, volume = F.col("close"), F.col("volume")
    if kind == "return":
        return close / F.lag(close, int(parameters["period"])).over(ordered) - F.lit(1.0)
    if kind == "log_return":
        return F.col("log_return")
    if kind == "sma":
        period = int(parameters["period"])
        return warm(period, F.avg(close).over(over_last(period)))
    if kind in ("bb_upper", "bb_middle", "bb_lower"):
        period, deviations = int(parameters["period"]), float(parameters["deviations"])
        middle = F.avg(close).over(over_last(period))
        spread = F.lit(deviations) * F.stddev_pop(close).over(over_last(period))
        value = {"bb_middle": middle, "bb_upper": middle + spread, "bb_lower": middle - spread}[kind]
        return warm(period, value)
    if kind == "volatility":
        period = int(parameters["period"])
        # `period` log returns need period + 1 closes.
        return warm(period + 1, F.stddev_pop("log_return").over(over_last(period)))
    if kind == "volume_zscore":
        period = int(parameters["period"])
        spread = F.stddev_pop(volume).over(over_last(period))
        zscore = F.when(spread == 0.0, F.lit(0.0)).otherwise((volume - F.avg(volume).over(over_last(period))) / spread)
        return warm(period, zscore)
    if kind == "taker_buy_ratio":
        taker = F.col("taker_buy_base_volume")
        return F.when(taker.isNull(), F.lit(None)).when(volume == 0.0, F.lit(0.5)).otherwise(taker / volume)
    if kind == "trade_count":
        return F.col("trade_count")
    # Integer arithmetic on epoch milliseconds: UTC whatever the session's zone.
    if kind == "hour_of_day":
        return F.expr(f"pmod(open_time_ms div {MILLISECONDS_PER_HOUR}, 24)")
    if kind == "day_of_week":
        return F.expr(f"pmod(open_time_ms div {MILLISECONDS_PER_DAY} + {EPOCH_WEEKDAY}, 7)")
    raise ValueError(f"feature {row.name}: unknown kind {kind!r}")


def window_features(bars: DataFrame, table: Sequence[FeatureRow]) -> DataFrame:
    ordered = Window.partitionBy(*GROUP_COLUMNS).orderBy("open_time_ms")
    position = F.row_number().over(ordered)
    with_returns = bars.withColumn("log_return", F.log(F.col("close") / F.lag("close", 1).over(ordered)))
    columns = [F.col(column) for column in (*GROUP_COLUMNS, "open_time_ms")]
    columns += [_window_column(row, position, ordered).cast("double").alias(row.name) for row in table if row.kind not in RECURSIVE_KINDS]
    return with_returns.select(*columns)


def _recursive_for_group(table: Sequence[FeatureRow]):
    def compute(group: pd.DataFrame) -> pd.DataFrame:
        ordered = group.sort_values("open_time_ms", kind="stable").reset_index(drop=True)
        features = recursive_features(ordered, table)
        features.insert(0, "symbol", ordered["symbol"])
        features.insert(0, "interval", ordered["interval"])
        return features

    return compute


def recursive_feature_frame(bars: DataFrame, table: Sequence[FeatureRow]) -> DataFrame:
    names = [row.name for row in table if row.kind in RECURSIVE_KINDS]
    schema = ", ".join(["interval string", "symbol string", "open_time_ms long", *(f"{name} double" for name in names)])
    computed = bars.select(*GROUP_COLUMNS, "open_time_ms", "high", "low", "close").groupBy(*GROUP_COLUMNS).applyInPandas(_recursive_for_group(table), schema)
    # A NaN from pandas means "not warmed up": contract B stores it as null.
    return computed.select(*GROUP_COLUMNS, "open_time_ms", *(F.when(~F.isnan(name), F.col(name)).alias(name) for name in names))


def feature_table(bars: DataFrame, table: Sequence[FeatureRow] = FEATURE_TABLE) -> DataFrame:
    """Contract B's features rows (plus partition columns) for clean bars of any symbols."""
    joined = window_features(bars, table).join(recursive_feature_frame(bars, table), on=[*GROUP_COLUMNS, "open_time_ms"], how="inner")
    date = F.date_from_unix_date(F.expr(f"open_time_ms div {MILLISECONDS_PER_DAY}").cast("int")).cast("string")
    return joined.select(
        "open_time_ms",
        "symbol",
        *(F.col(row.name) for row in table),
        F.lit(FEATURE_SPEC_VERSION).alias("feature_spec_version"),
        "interval",
        date.alias("date"),
    )


def write_features(spark: SparkSession, lake_root: str, symbols: Sequence[str] | None = None, interval: str = "1m", dates: Iterable[str] | None = None) -> int:
    """Rebuild the features partitions of `symbols` on `dates` (all when None) from the whole
    clean history; returns the rows written."""
    features = feature_table(read_clean_bars(spark, lake_root, interval, symbols))
    if dates is not None:
        features = features.where(F.col("date").isin(sorted(set(dates))))
    features = features.persist()
    try:
        with read_errors_named([layer_path(lake_root, "clean", interval)]):
            rows = features.count()
            write_partitions(features, layer_path(lake_root, "features", interval).rsplit("/interval=", 1)[0])
    finally:
        features.unpersist()
    return rows


def build_features(spark: SparkSession, lake_root: str, symbols: Sequence[str] | None = None, interval: str = "1m", dates: Iterable[str] | None = None) -> BuildCounts:
    """raw -> clean -> features for `symbols` (all in the raw layer when None) on `dates`."""
    dates = None if dates is None else sorted(set(dates))
    cleaned = clean_klines(spark, lake_root, symbols, interval, dates)
    feature_rows = write_features(spark, lake_root, symbols, interval, dates)
    return BuildCounts(
        rows_read=cleaned.rows_read,
        rows_written=cleaned.rows_written,
        feature_rows_written=feature_rows,
        duplicates_dropped=cleaned.duplicates_dropped,
        conflicts=cleaned.conflicts,
        gaps=cleaned.gaps,
        missing_bars=cleaned.missing_bars,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spark_batch.features", description="Build the clean and features layers of the history lake.")
    parser.add_argument("--lake", required=True, help="lake root: a path or a Hadoop URI (s3a://bucket/lake)")
    parser.add_argument("--master", default=None, help="Spark master URL (default local[2], or spark-submit's)")
    parser.add_argument("--symbols", default=None, help="comma-separated symbols (default: every symbol in the raw layer)")
    parser.add_argument("--interval", default="1m")
    parser.add_argument("--dates", default=None, help="comma-separated UTC dates YYYY-MM-DD to rebuild (default: all)")
    arguments = parser.parse_args(argv)
    from spark_batch.errors import LakeError
    from spark_batch.session import build_session

    spark = build_session(arguments.master, app_name="tradebot-features")
    try:
        counts = build_features(
            spark,
            arguments.lake,
            symbols=None if arguments.symbols is None else [symbol.strip() for symbol in arguments.symbols.split(",") if symbol.strip()],
            interval=arguments.interval,
            dates=None if arguments.dates is None else [date.strip() for date in arguments.dates.split(",") if date.strip()],
        )
    except LakeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    print(json.dumps(asdict(counts), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
