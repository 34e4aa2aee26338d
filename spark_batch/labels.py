"""Training targets: the forward return over H bars, and its three-class direction.

The label of the bar opening at t is close_{t+H} / close_t - 1: what a position opened at bar t's
close and closed H bars later would have earned before fees. The classifier's classes are
0 = down (return < -threshold), 1 = flat, 2 = up (return > threshold), with a threshold that
covers a round trip's fees, so "up" means "a long would have paid for itself".

A bar gets no label when its horizon is not fully known: when it runs past the end of the data,
or crosses a gap (a bar missing between t and t+H, seen as an open-time jump or as the clean
layer's `missing_bars_before`). Such rows are dropped from training, never labelled with a
return measured over the wrong span of time.

Two implementations of one definition: `label_frame` (pandas, the single-node path and the
reference) and `label_spark` (window functions, `lead(close, H)` per symbol); a test holds them
to the same values.

`past_return` is the most recent H-bar return fully known at bar t's close (close_t /
close_{t-H} - 1, same gap rules): the "last value" baseline of the evaluation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from spark_batch.lake import interval_milliseconds

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame

DEFAULT_HORIZON_BARS = 10  # ten 1-minute bars: the model predicts T+10 min
TAKER_FEE_RATE = 0.001  # Binance spot taker fee without discounts: 0.1% per side
# A trade must earn more than the fees of entering and leaving (2 x 0.1% taker) plus a margin for
# slippage and spread before it is worth calling "up" or "down": 0.2% + 0.05% = 0.25%.
FLAT_MARGIN = 0.0005
DEFAULT_FLAT_THRESHOLD = 2 * TAKER_FEE_RATE + FLAT_MARGIN

DOWN, FLAT, UP = 0, 1, 2
FORWARD_RETURN = "forward_return"
DIRECTION = "direction"
PAST_RETURN = "past_return"
MISSING_BARS = "missing_bars_before"


class LabelError(Exception):
    """The labels cannot be built; the message names the symbol, the rows and the horizon."""


def _check_arguments(horizon: int, threshold: float) -> None:
    if not isinstance(horizon, int) or horizon < 1:
        raise LabelError(f"horizon must be a positive number of bars, got {horizon!r}")
    if not threshold >= 0:  # also refuses NaN
        raise LabelError(f"flat threshold must be >= 0, got {threshold!r}")


def _check_rows(symbol: str, rows: int, horizon: int) -> None:
    if rows <= horizon:
        raise LabelError(
            f"{symbol}: {rows} rows, horizon {horizon} bars: the horizon is longer than the data, "
            f"no row can be labelled (need more than {horizon} bars)"
        )


def direction_of(forward_return: np.ndarray, threshold: float) -> np.ndarray:
    """0 / 1 / 2 as float (NaN where the return is NaN)."""
    classes = np.where(forward_return > threshold, UP, np.where(forward_return < -threshold, DOWN, FLAT)).astype(float)
    classes[np.isnan(forward_return)] = np.nan
    return classes


def label_frame(
    frame: pd.DataFrame,
    *,
    horizon: int = DEFAULT_HORIZON_BARS,
    threshold: float = DEFAULT_FLAT_THRESHOLD,
    interval: str = "1m",
) -> pd.DataFrame:
    """`frame` (columns symbol, open_time_ms, close, optionally missing_bars_before) sorted by
    symbol and time, with forward_return, direction (float 0/1/2, NaN = no label) and past_return
    added. Rows are kept; callers drop the unlabelled ones."""
    _check_arguments(horizon, threshold)
    step = interval_milliseconds(interval)
    if frame.empty:
        raise LabelError("no rows to label")
    ordered = frame.sort_values(["symbol", "open_time_ms"], kind="stable").reset_index(drop=True)
    parts = []
    for symbol, rows in ordered.groupby("symbol", sort=True):
        _check_rows(str(symbol), len(rows), horizon)
        times = rows["open_time_ms"].to_numpy(dtype=np.int64)
        if np.any(np.diff(times) <= 0):
            raise LabelError(f"{symbol}: open times repeat; deduplicate the bars (clean layer) before labelling")
        close = rows["close"].to_numpy(dtype=float)
        missing = rows[MISSING_BARS].fillna(0).to_numpy(dtype=np.int64) if MISSING_BARS in rows else np.zeros(len(rows), np.int64)
        # Gaps inside (t, t+H]: missing bars before any of the next H rows.
        missing_ahead = pd.Series(missing[::-1]).rolling(horizon, min_periods=1).sum().to_numpy()[::-1]
        missing_ahead = np.concatenate([missing_ahead[1:], [0]])
        forward = np.full(len(rows), np.nan)
        past = np.full(len(rows), np.nan)
        span_ok = times[horizon:] - times[:-horizon] == horizon * step
        ahead_ok = span_ok & (missing_ahead[:-horizon] == 0)
        forward[:-horizon] = np.where(ahead_ok, close[horizon:] / close[:-horizon] - 1.0, np.nan)
        past[horizon:] = np.where(ahead_ok, close[horizon:] / close[:-horizon] - 1.0, np.nan)
        labelled = rows.copy()
        labelled[FORWARD_RETURN] = forward
        labelled[DIRECTION] = direction_of(forward, threshold)
        labelled[PAST_RETURN] = past
        parts.append(labelled)
    return pd.concat(parts, ignore_index=True)


def label_spark(
    frame: SparkDataFrame,
    *,
    horizon: int = DEFAULT_HORIZON_BARS,
    threshold: float = DEFAULT_FLAT_THRESHOLD,
    interval: str = "1m",
) -> SparkDataFrame:
    """The same labels with window functions, per symbol ordered by open time."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    _check_arguments(horizon, threshold)
    step = interval_milliseconds(interval)
    counts = frame.groupBy("symbol").count().orderBy("symbol").collect()
    if not counts:
        raise LabelError("no rows to label")
    for row in counts:
        _check_rows(row["symbol"], row["count"], horizon)
    by_time = Window.partitionBy("symbol").orderBy("open_time_ms")
    ahead = by_time.rowsBetween(1, horizon)
    behind = by_time.rowsBetween(-horizon + 1, 0)
    missing = F.coalesce(F.col(MISSING_BARS), F.lit(0)) if MISSING_BARS in frame.columns else F.lit(0)
    staged = (
        frame.withColumn("_missing", missing.cast("long"))
        .withColumn("_close_ahead", F.lead("close", horizon).over(by_time))
        .withColumn("_time_ahead", F.lead("open_time_ms", horizon).over(by_time))
        .withColumn("_missing_ahead", F.sum("_missing").over(ahead))
        .withColumn("_close_behind", F.lag("close", horizon).over(by_time))
        .withColumn("_time_behind", F.lag("open_time_ms", horizon).over(by_time))
        .withColumn("_missing_behind", F.sum("_missing").over(behind))
    )
    forward_ok = (F.col("_time_ahead") - F.col("open_time_ms") == horizon * step) & (F.col("_missing_ahead") == 0)
    past_ok = (F.col("open_time_ms") - F.col("_time_behind") == horizon * step) & (F.col("_missing_behind") == 0)
    forward = F.when(forward_ok, F.col("_close_ahead") / F.col("close") - F.lit(1.0))
    labelled = staged.withColumn(FORWARD_RETURN, forward).withColumn(
        PAST_RETURN, F.when(past_ok, F.col("close") / F.col("_close_behind") - F.lit(1.0))
    )
    labelled = labelled.withColumn(
        DIRECTION,
        F.when(F.col(FORWARD_RETURN).isNull(), F.lit(None).cast("double"))
        .when(F.col(FORWARD_RETURN) > threshold, F.lit(float(UP)))
        .when(F.col(FORWARD_RETURN) < -threshold, F.lit(float(DOWN)))
        .otherwise(F.lit(float(FLAT))),
    )
    return labelled.drop(*[name for name in labelled.columns if name.startswith("_")])
