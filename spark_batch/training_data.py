"""The training table from the history lake: the features layer joined with the clean klines'
close (the label needs prices, which the features layer does not carry) and gap marks.

Layout (contract B): `<lake>/features/interval=<I>/symbol=<S>/date=<D>/*.parquet` (open_time_ms,
symbol, the spec's features, feature_spec_version) and `<lake>/clean/klines/interval=<I>/symbol=
<S>/date=<D>/*.parquet` (open_time_ms, ..., close double, missing_bars_before int).

Before anything is read, every file's Parquet footer is checked with pyarrow (on any file system
pyarrow.fs understands, so s3:// works too): a symbol without files, an unreadable (corrupt) file
or a file with no rows stops the run with a TrainingError naming the path, rather than training
quietly on less data than the operator thinks. The rows are then read with pyarrow (local) or
spark.read.parquet (spark).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from bot.features.spec import FEATURE_SPEC
from bot.lake.layout import open_root
from spark_batch.labels import MISSING_BARS
from spark_batch.lake import layer_path
from spark_batch.training import TrainingError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession

VERSION_COLUMN = "feature_spec_version"


def checked_files(root: str, layer: str, interval: str, symbol: str) -> list[str]:
    """The symbol's Parquet files in `layer` (paths on the root's file system), each footer read:
    TrainingError for no files, a corrupt file or an empty one."""
    file_system, base = open_root(root)
    directory = layer_path(base, layer, interval, symbol)
    where = layer_path(root, layer, interval, symbol)
    info = file_system.get_file_info(directory)
    if info.type != pafs.FileType.Directory:
        raise TrainingError(f"{symbol}: no {layer} data for interval {interval} (no directory {where})")
    selector = pafs.FileSelector(directory, recursive=True)
    files = sorted(
        entry.path for entry in file_system.get_file_info(selector)
        if entry.type == pafs.FileType.File and entry.base_name.endswith(".parquet") and not entry.base_name.startswith(".")
    )
    if not files:
        raise TrainingError(f"{symbol}: no {layer} Parquet files under {where}")
    for path in files:
        try:
            metadata = pq.ParquetFile(file_system.open_input_file(path)).metadata
        except (pa.ArrowInvalid, OSError) as error:
            raise TrainingError(f"{symbol}: corrupt Parquet file {path} ({error})") from None
        if metadata.num_rows == 0:
            raise TrainingError(f"{symbol}: empty Parquet partition file {path} (0 rows)")
    return files


def _read_local(root: str, layer: str, interval: str, symbol: str, columns: Sequence[str] | None) -> pd.DataFrame:
    file_system, _ = open_root(root)
    tables = []
    for path in checked_files(root, layer, interval, symbol):
        try:
            table = pq.read_table(file_system.open_input_file(path), columns=None)
        except (pa.ArrowInvalid, OSError) as error:
            raise TrainingError(f"{symbol}: corrupt Parquet file {path} ({error})") from None
        if columns is not None:
            absent = [name for name in columns if name not in table.column_names]
            if absent:
                raise TrainingError(f"{symbol}: {path} lacks the columns {absent}")
            table = table.select(list(columns))
        tables.append(table)
    try:
        # Permissive: writers differ in small ways (string vs large_string) that change nothing.
        frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise TrainingError(f"{symbol}: the {layer} files under {layer_path(root, layer, interval, symbol)} disagree on their columns ({error})") from None
    frame["symbol"] = symbol
    return frame


def _check_features(frame_columns: Sequence[str], versions: Sequence[str], where: str) -> None:
    absent = [name for name in FEATURE_SPEC.names if name not in frame_columns]
    if absent:
        raise TrainingError(f"{where}: the features layer lacks {absent} of feature spec {FEATURE_SPEC.version}")
    stale = sorted({str(version) for version in versions} - {FEATURE_SPEC.version})
    if stale:
        raise TrainingError(
            f"{where}: features computed with spec version {stale}, this job trains on spec "
            f"{FEATURE_SPEC.version}: rebuild the features layer first"
        )


def read_training_table(root: str, *, interval: str, symbols: Sequence[str]) -> pd.DataFrame:
    """symbol, open_time_ms, close, missing_bars_before and the spec's features, sorted by
    symbol and time (pandas, for the local engine)."""
    if not symbols:
        raise TrainingError("no symbols to train on")
    parts = []
    for symbol in sorted(symbols):
        features = _read_local(root, "features", interval, symbol, None)
        _check_features(list(features.columns), features.get(VERSION_COLUMN, pd.Series([], dtype=str)).unique(), symbol)
        clean = _read_local(root, "clean", interval, symbol, ["open_time_ms", "close", MISSING_BARS])
        features = features[["symbol", "open_time_ms", *FEATURE_SPEC.names]]
        joined = features.merge(clean[["open_time_ms", "close", MISSING_BARS]], on="open_time_ms", how="inner")
        if joined.empty:
            raise TrainingError(f"{symbol}: no bar is in both the features and the clean klines layers")
        parts.append(joined)
    table = pd.concat(parts, ignore_index=True)
    return table.sort_values(["symbol", "open_time_ms"], kind="stable").reset_index(drop=True)


def read_training_table_spark(spark: SparkSession, root: str, *, interval: str, symbols: Sequence[str]) -> SparkDataFrame:
    """The same table as a Spark DataFrame (read on the executors)."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    if not symbols:
        raise TrainingError("no symbols to train on")
    feature_files: list[str] = []
    clean_files: list[str] = []
    for symbol in sorted(symbols):
        feature_files += checked_files(root, "features", interval, symbol)
        clean_files += checked_files(root, "clean", interval, symbol)
    base = root.rstrip("/")
    try:
        features = (
            spark.read.option("basePath", f"{base}/features/interval={interval}")
            .parquet(*[layer_path(root, "features", interval, symbol) for symbol in sorted(symbols)])
        )
        clean = (
            spark.read.option("basePath", f"{base}/clean/klines/interval={interval}")
            .parquet(*[layer_path(root, "clean", interval, symbol) for symbol in sorted(symbols)])
        )
    except (PySparkException, Py4JJavaError) as error:  # name the root, keep Spark's reason
        raise TrainingError(f"Spark cannot read the lake at {root}: {error}") from None
    versions = [row[0] for row in features.select(VERSION_COLUMN).distinct().collect()] if VERSION_COLUMN in features.columns else []
    _check_features(features.columns, versions, f"{base}/features/interval={interval}")
    features = features.select("symbol", "open_time_ms", *[F.col(name).cast("double") for name in FEATURE_SPEC.names])
    clean = clean.select("symbol", "open_time_ms", F.col("close").cast("double"), F.col(MISSING_BARS).cast("long"))
    return features.join(clean, on=["symbol", "open_time_ms"], how="inner")
