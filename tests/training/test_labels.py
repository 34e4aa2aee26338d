"""Labels on real BTCUSDT/ETHUSDT 1-minute bars: hand-checked rows, gaps, the horizon check, and
the Spark implementation agreeing with the pandas one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spark_batch.labels import (
    DEFAULT_FLAT_THRESHOLD,
    DIRECTION,
    FORWARD_RETURN,
    PAST_RETURN,
    LabelError,
    label_frame,
    label_spark,
)
from training.lake_support import MINUTE_MS, training_frame


def test_threshold_covers_a_round_trip_of_taker_fees() -> None:
    assert DEFAULT_FLAT_THRESHOLD > 2 * 0.001
    assert DEFAULT_FLAT_THRESHOLD == pytest.approx(0.0025)


def test_hand_checked_rows_of_real_btcusdt() -> None:
    labelled = label_frame(training_frame(("BTCUSDT",)), horizon=10)
    by_time = labelled.set_index("open_time_ms")
    # From the recording's CSV (open_time_ms, close): 1758503700000 closes 114660.0 and ten bars
    # later 1758504300000 closes 114589.89: -0.061%, inside the 0.25% band -> flat.
    row = by_time.loc[1758503700000]
    assert row[FORWARD_RETURN] == pytest.approx(114589.89 / 114660.0 - 1, rel=1e-12)
    assert row[DIRECTION] == 1
    # 1758505500000 114670.94 -> 1758506100000 114304.93: -0.319% -> down.
    row = by_time.loc[1758505500000]
    assert row[FORWARD_RETURN] == pytest.approx(-0.003191828723127288, rel=1e-12)
    assert row[DIRECTION] == 0
    # 1758520920000 112065.41 -> 1758521520000 112983.43: +0.819% -> up.
    row = by_time.loc[1758520920000]
    assert row[FORWARD_RETURN] == pytest.approx(112983.43 / 112065.41 - 1, rel=1e-12)
    assert row[DIRECTION] == 2
    # The "last value" baseline at 1758506100000 is the return that just became known.
    assert by_time.loc[1758506100000][PAST_RETURN] == pytest.approx(-0.003191828723127288, rel=1e-12)
    # The last 10 bars run past the end of the data: no label; every earlier bar has one.
    assert labelled[FORWARD_RETURN].tail(10).isna().all()
    assert labelled[FORWARD_RETURN].iloc[:-10].notna().all()
    assert labelled[PAST_RETURN].head(10).isna().all()


def test_a_horizon_crossing_a_gap_gets_no_label() -> None:
    """Constructed gap on real data: five real bars removed from BTCUSDT."""
    frame = training_frame(("BTCUSDT",))
    removed = frame.index[1000:1005]
    gap_start = int(frame.loc[1000, "open_time_ms"])
    holed = frame.drop(index=removed).reset_index(drop=True)
    labelled = label_frame(holed, horizon=10).set_index("open_time_ms")
    before = [gap_start - k * MINUTE_MS for k in range(1, 11)]  # horizons reaching into the hole
    assert labelled.loc[before, FORWARD_RETURN].isna().all()
    assert labelled.loc[gap_start - 11 * MINUTE_MS, FORWARD_RETURN] == pytest.approx(
        frame.loc[999, "close"] / frame.loc[989, "close"] - 1, rel=1e-12
    )
    after = gap_start + 5 * MINUTE_MS
    assert not math.isnan(labelled.loc[after, FORWARD_RETURN])
    assert math.isnan(labelled.loc[after, PAST_RETURN])  # its look-back crosses the hole


def test_missing_bars_before_also_stops_a_label() -> None:
    """The clean layer's gap mark counts even where open times look contiguous (constructed mark)."""
    frame = training_frame(("BTCUSDT",))
    frame.loc[2000, "missing_bars_before"] = 1
    labelled = label_frame(frame, horizon=10)
    assert labelled.loc[1990:1999, FORWARD_RETURN].isna().all()
    assert labelled.loc[[1989, 2000], FORWARD_RETURN].notna().all()


def test_horizon_longer_than_the_data_is_a_clear_error() -> None:
    frame = training_frame(("ETHUSDT",)).head(10)
    with pytest.raises(LabelError, match=r"ETHUSDT: 10 rows, horizon 10 bars"):
        label_frame(frame, horizon=10)
    with pytest.raises(LabelError, match=r"positive"):
        label_frame(frame, horizon=0)


def test_spark_labels_equal_the_pandas_labels(spark) -> None:
    frame = training_frame()
    frame = frame.drop(index=frame.index[3000:3004]).reset_index(drop=True)  # constructed gap, real bars
    expected = label_frame(frame, horizon=10)
    columns = ["symbol", "open_time_ms", "close", "missing_bars_before"]
    actual = label_spark(spark.createDataFrame(frame[columns]), horizon=10).orderBy("symbol", "open_time_ms").toPandas()
    assert len(actual) == len(expected)
    assert actual["open_time_ms"].tolist() == expected["open_time_ms"].tolist()
    for name in (FORWARD_RETURN, PAST_RETURN, DIRECTION):
        left, right = actual[name].to_numpy(float), expected[name].to_numpy(float)
        assert np.array_equal(np.isnan(left), np.isnan(right)), name
        assert np.array_equal(left[~np.isnan(left)], right[~np.isnan(right)]), name  # bit-equal: same IEEE ops
    assert int(expected[FORWARD_RETURN].isna().sum()) == 2 * 10 + 10  # both ends, plus the gap's 10


def test_spark_labels_refuse_a_too_long_horizon(spark) -> None:
    frame = training_frame(("BTCUSDT",)).head(8)[["symbol", "open_time_ms", "close"]]
    with pytest.raises(LabelError, match=r"BTCUSDT: 8 rows, horizon 10 bars"):
        label_spark(spark.createDataFrame(frame), horizon=10)
