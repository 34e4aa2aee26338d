"""The Spark batch (raw -> clean -> features) on real klines: BTCUSDT and ETHUSDT 1m, 4,319 bars
each (bot/sim/recordings), in Spark local mode.

Constructed on top of the real rows (labelled where done): repeated bars from a second source,
one conflicting repeat, one removed bar.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from raw_lake_support import INGESTED_AT_NS, RECORDING_FILES, float_bars, recorded_klines, write_raw

from spark_batch.feature_frame import compute_feature_frame
from spark_batch.features import build_features
from spark_batch.spec_table import FEATURE_NAMES

WARM_UP_BARS = 1_000
TOLERANCE = 1e-9
REPEATED = slice(100, 110)  # BTCUSDT bars sent again by REST
CONFLICT_INDEX = 200  # BTCUSDT bar sent again by a file with another close
REMOVED_INDEX = 2_000  # ETHUSDT bar taken out of the archive


def _padded(text: str) -> str:
    """The same decimal written longer, as REST and archive CSVs differ ("1.5" vs "1.50000000")."""
    return text + "000" if "." in text else text + ".000"


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("lake")
    bitcoin = recorded_klines("BTCUSDT")
    write_raw(root, "BTCUSDT", bitcoin, "archive")
    repeated = bitcoin.iloc[REPEATED].copy()
    for column in ("open", "high", "low", "close", "volume", "quote_volume", "taker_buy_base_volume", "taker_buy_quote_volume"):
        repeated[column] = repeated[column].map(_padded)
    write_raw(root, "BTCUSDT", repeated, "rest", ingested_at_ns=INGESTED_AT_NS + 1)
    # Constructed conflict: the real bar with its close moved by 1.5 (newer, but a less trusted source).
    conflicting = bitcoin.iloc[[CONFLICT_INDEX]].copy()
    conflicting["close"] = str(float(conflicting["close"].iloc[0]) + 1.5)
    write_raw(root, "BTCUSDT", conflicting, "file", ingested_at_ns=INGESTED_AT_NS + 2)
    ether = recorded_klines("ETHUSDT")
    kept_ether = ether.drop(index=ether.index[REMOVED_INDEX]).reset_index(drop=True)
    write_raw(root, "ETHUSDT", kept_ether, "archive")
    counts = build_features(spark, str(root))
    features = spark.read.parquet(str(root / "features")).toPandas()
    clean = spark.read.parquet(str(root / "clean" / "klines")).toPandas()
    return {
        "root": root,
        "counts": counts,
        "features": features,
        "clean": clean,
        "bars": {"BTCUSDT": bitcoin, "ETHUSDT": kept_ether},
        "removed_open_time": int(ether["open_time_ms"].iloc[REMOVED_INDEX]),
    }


def _recorded_gaps(rows: pd.DataFrame) -> tuple[int, int]:
    steps = np.diff(rows["open_time_ms"].to_numpy()) // 60_000 - 1
    return int((steps > 0).sum()), int(steps[steps > 0].sum())


def feature_errors(spark_rows: pd.DataFrame, pandas_rows: pd.DataFrame, closes: np.ndarray) -> dict[str, dict[str, float]]:
    """Per feature after the warm-up: max relative error, and max absolute error (divided by
    the bar's close for price-valued features that cross zero: the macd family)."""
    errors = {}
    for name in FEATURE_NAMES:
        spark_values = spark_rows[name].to_numpy(dtype="float64")[WARM_UP_BARS:]
        pandas_values = pandas_rows[name].to_numpy(dtype="float64")[WARM_UP_BARS:]
        difference = np.abs(spark_values - pandas_values)
        magnitude = np.maximum(np.abs(spark_values), np.abs(pandas_values))
        relative = np.divide(difference, magnitude, out=np.zeros_like(difference), where=magnitude > 0)
        absolute = difference / closes[WARM_UP_BARS:] if name.startswith("macd") else difference
        errors[name] = {"relative": float(relative.max()), "absolute": float(absolute.max())}
    return errors


def test_counts_report_duplicates_conflicts_and_gaps(lake):
    bitcoin, ether = lake["bars"]["BTCUSDT"], lake["bars"]["ETHUSDT"]
    repeats = REPEATED.stop - REPEATED.start + 1
    recorded_gaps = [_recorded_gaps(bitcoin), _recorded_gaps(ether)]
    counts = lake["counts"]
    assert counts.rows_read == len(bitcoin) + repeats + len(ether)
    assert counts.rows_written == len(bitcoin) + len(ether)
    assert counts.feature_rows_written == len(bitcoin) + len(ether)
    assert counts.duplicates_dropped == repeats
    assert counts.conflicts == 1
    # ETHUSDT lost one bar in the middle of a run: one more gap of exactly one bar.
    assert counts.gaps == sum(gaps for gaps, _ in recorded_gaps)
    assert counts.missing_bars == sum(missing for _, missing in recorded_gaps)


def test_identical_repeats_collapse_and_the_trusted_source_wins_a_conflict(lake):
    clean = lake["clean"]
    bitcoin_clean = clean[clean["symbol"] == "BTCUSDT"].sort_values("open_time_ms")
    assert bitcoin_clean["open_time_ms"].is_unique
    assert len(bitcoin_clean) == len(lake["bars"]["BTCUSDT"])
    original = lake["bars"]["BTCUSDT"].iloc[CONFLICT_INDEX]
    winner = bitcoin_clean[bitcoin_clean["open_time_ms"] == original["open_time_ms"]].iloc[0]
    assert winner["source"] == "archive"
    assert winner["close"] == float(original["close"])
    # Identical content in other text: the archive row is kept (more trusted), not a conflict.
    repeated_times = lake["bars"]["BTCUSDT"]["open_time_ms"].iloc[REPEATED]
    assert set(bitcoin_clean[bitcoin_clean["open_time_ms"].isin(repeated_times)]["source"]) == {"archive"}
    assert bitcoin_clean["close"].dtype == np.float64 and bitcoin_clean["trade_count"].dtype == np.int64


def test_a_removed_bar_is_marked_as_a_gap(lake):
    clean = lake["clean"]
    ether_clean = clean[clean["symbol"] == "ETHUSDT"].sort_values("open_time_ms")
    after_gap = ether_clean[ether_clean["open_time_ms"] == lake["removed_open_time"] + 60_000].iloc[0]
    assert after_gap["missing_bars_before"] == 1
    marked = ether_clean[ether_clean["missing_bars_before"] > 0]
    steps = np.diff(ether_clean["open_time_ms"].to_numpy()) // 60_000 - 1
    assert len(marked) == int((steps > 0).sum())
    assert ether_clean["missing_bars_before"].iloc[0] == 0


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_spark_features_equal_the_pandas_frame(lake, symbol):
    spark_rows = lake["features"][lake["features"]["symbol"] == symbol].sort_values("open_time_ms").reset_index(drop=True)
    bars = float_bars(lake["bars"][symbol])
    pandas_rows = compute_feature_frame(bars)
    assert spark_rows["open_time_ms"].tolist() == pandas_rows["open_time_ms"].tolist()
    assert (spark_rows["feature_spec_version"] == "3").all()
    # The warm-up: null exactly where the pandas frame has no value yet (e.g. sma_5's first 4).
    for name in FEATURE_NAMES:
        assert spark_rows[name].isna().tolist() == pandas_rows[name].isna().tolist(), name
    assert spark_rows["sma_5"].isna().sum() == 4 and spark_rows["ret_15"].isna().sum() == 15
    errors = feature_errors(spark_rows, pandas_rows, bars["close"].to_numpy())
    too_far = {name: error for name, error in errors.items() if error["relative"] > TOLERANCE}
    assert not too_far


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_spark_features_equal_the_daemons_incremental_values(lake, symbol):
    """Acceptance 1's pair: the Spark table against `FeatureSet`, one bar at a time, on every
    feature both define (spec v2 shares ema_12, ema_26, rsi_14, atr_14, log_return; v3 all)."""
    from guard_data import read_klines

    from bot.features.spec import FEATURE_SPEC, FeatureSet

    shared = [name for name in FEATURE_NAMES if name in FEATURE_SPEC.names]
    assert {"ema_12", "ema_26", "rsi_14", "atr_14", "log_return"} <= set(shared)
    spark_rows = lake["features"][lake["features"]["symbol"] == symbol].sort_values("open_time_ms").reset_index(drop=True)
    kept = set(spark_rows["open_time_ms"])
    feature_set = FeatureSet()
    incremental = pd.DataFrame(
        [feature_set.update(bar) for bar in read_klines(RECORDING_FILES[symbol], symbol, "1m") if bar.open_time // 1_000_000 in kept]
    )
    assert len(incremental) == len(spark_rows)
    for name in shared:
        daemon = incremental[name].to_numpy(dtype="float64")[WARM_UP_BARS:]
        batch = spark_rows[name].to_numpy(dtype="float64")[WARM_UP_BARS:]
        assert not np.isnan(daemon).any() and not np.isnan(batch).any(), name
        difference, magnitude = np.abs(daemon - batch), np.maximum(np.abs(daemon), np.abs(batch))
        relative = np.divide(difference, magnitude, out=np.zeros_like(difference), where=magnitude > 0)
        assert relative.max() <= TOLERANCE, (name, relative.max())


def test_feature_files_put_open_time_first_then_the_spec_columns(lake):
    files = sorted((lake["root"] / "features" / "interval=1m" / "symbol=ETHUSDT").glob("date=*/*.parquet"))
    assert [file.parent.name for file in files] == ["date=2025-09-22", "date=2025-09-23", "date=2025-09-24", "date=2025-09-25"]
    assert pq.read_schema(files[0]).names == ["open_time_ms", *FEATURE_NAMES, "feature_spec_version"]


def test_rebuilding_one_date_leaves_the_other_partitions_alone(spark, lake):
    root: Path = lake["root"]
    ether_features = root / "features" / "interval=1m" / "symbol=ETHUSDT"
    before = {path.parent.name: path.name for path in ether_features.glob("date=*/*.parquet")}
    counts = build_features(spark, str(root), symbols=["ETHUSDT"], dates=["2025-09-23"])
    after = {path.parent.name: path.name for path in ether_features.glob("date=*/*.parquet")}
    assert {date: name for date, name in after.items() if date != "date=2025-09-23"} == {date: name for date, name in before.items() if date != "date=2025-09-23"}
    assert after["date=2025-09-23"] != before["date=2025-09-23"]
    assert counts.feature_rows_written == counts.rows_written == int((lake["clean"].query("symbol == 'ETHUSDT'")["date"] == "2025-09-23").sum())
    # Still the whole history behind the recursions: the rebuilt day's values are unchanged.
    rebuilt = pd.read_parquet(ether_features / "date=2025-09-23").reset_index(drop=True)
    previous = lake["features"].query("symbol == 'ETHUSDT' and date == '2025-09-23'").sort_values("open_time_ms").reset_index(drop=True)
    pd.testing.assert_frame_equal(rebuilt[list(FEATURE_NAMES)], previous[list(FEATURE_NAMES)])
