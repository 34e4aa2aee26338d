"""sha256 of a model's training rows, identical whichever engine holds them.

The rows are grouped by (symbol, UTC day) and each group is hashed in open-time order from its
canonical bytes: open_time_ms as little-endian int64, then every feature (spec order) and the two
labels as little-endian float64. The fingerprint is the sha256 of the sorted list of group
digests. Spark computes the group digests on the executors (applyInPandas with the same
function), so only one short line per symbol-day reaches the driver.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pandas as pd

from bot.features.spec import FEATURE_SPEC
from spark_batch.labels import DIRECTION, FORWARD_RETURN

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame

_DAY_MS = 86_400_000
_DIGEST_SCHEMA = "symbol string, day long, rows long, digest string"


def _columns() -> list[str]:
    return [*FEATURE_SPEC.names, FORWARD_RETURN, DIRECTION]


def group_digest(rows: pd.DataFrame) -> pd.DataFrame:
    """One symbol-day's rows -> one row (symbol, day, rows, digest)."""
    ordered = rows.sort_values("open_time_ms", kind="stable")
    digest = hashlib.sha256()
    digest.update(ordered["open_time_ms"].to_numpy(dtype="<i8").tobytes())
    for name in _columns():
        digest.update(ordered[name].to_numpy(dtype="<f8").tobytes())
    symbol = str(ordered["symbol"].iloc[0])
    day = int(ordered["open_time_ms"].iloc[0]) // _DAY_MS
    return pd.DataFrame({"symbol": [symbol], "day": [day], "rows": [len(ordered)], "digest": [digest.hexdigest()]})


def _combine(digests: list[tuple[str, int, int, str]]) -> str:
    text = "\n".join(f"{symbol} {day} {rows} {digest}" for symbol, day, rows, digest in sorted(digests))
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint_frame(rows: pd.DataFrame) -> str:
    if rows.empty:
        return _combine([])
    keyed = rows.assign(_day=rows["open_time_ms"] // _DAY_MS)
    digests = [group_digest(group.drop(columns="_day")) for _, group in keyed.groupby(["symbol", "_day"], sort=True)]
    table = pd.concat(digests, ignore_index=True)
    return _combine(list(table.itertuples(index=False, name=None)))


def fingerprint_spark(rows: SparkDataFrame) -> str:
    from pyspark.sql import functions as F

    selected = rows.select("symbol", "open_time_ms", *_columns()).withColumn("_day", F.floor(F.col("open_time_ms") / _DAY_MS))
    table = selected.groupBy("symbol", "_day").applyInPandas(lambda group: group_digest(group.drop(columns="_day")), _DIGEST_SCHEMA)
    return _combine([(row["symbol"], row["day"], row["rows"], row["digest"]) for row in table.collect()])
