"""Bad lake input gives a LakeError naming the path, and the job writes nothing.

The good partitions are real BTCUSDT klines of 2025-09-22; the bad ones are constructed: an
empty partition directory, a Parquet file with no rows, a file that is not Parquet at all.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from raw_lake_support import RAW_SCHEMA, recorded_klines, utc_dates, write_raw

from spark_batch.errors import LakeError
from spark_batch.features import build_features


@pytest.fixture
def one_day_lake(tmp_path: Path) -> Path:
    bitcoin = recorded_klines("BTCUSDT")
    write_raw(tmp_path, "BTCUSDT", bitcoin[utc_dates(bitcoin["open_time_ms"]) == "2025-09-22"], "archive")
    return tmp_path


def _partition(root: Path, date: str) -> Path:
    directory = root / "raw" / "klines" / "interval=1m" / "symbol=BTCUSDT" / f"date={date}"
    directory.mkdir(parents=True)
    return directory


def _assert_nothing_written(root: Path) -> None:
    assert not (root / "clean").exists()
    assert not (root / "features").exists()


def test_an_empty_partition_directory_is_refused_by_name(spark, one_day_lake):
    empty = _partition(one_day_lake, "2025-09-23")
    with pytest.raises(LakeError, match="empty raw partition") as caught:
        build_features(spark, str(one_day_lake))
    assert caught.value.path.endswith(str(empty))
    _assert_nothing_written(one_day_lake)


def test_a_partition_whose_file_holds_no_rows_is_refused_by_name(spark, one_day_lake):
    empty = _partition(one_day_lake, "2025-09-23")
    pq.write_table(pa.Table.from_pylist([], schema=RAW_SCHEMA), empty / "archive-0-0.parquet")
    with pytest.raises(LakeError, match="empty raw partition") as caught:
        build_features(spark, str(one_day_lake))
    assert caught.value.path.endswith(str(empty))
    _assert_nothing_written(one_day_lake)


def test_a_file_that_is_not_parquet_is_refused_by_name(spark, one_day_lake):
    corrupt = _partition(one_day_lake, "2025-09-23") / "rest-1758585600000-1758585660000.parquet"
    corrupt.write_text("open_time_ms,open\n1758585600000,112000.0\n")
    with pytest.raises(LakeError, match=r"cannot be read as Parquet \(the file is not a Parquet file") as caught:
        build_features(spark, str(one_day_lake))
    assert caught.value.path.endswith(str(corrupt))
    assert str(corrupt) in str(caught.value)
    _assert_nothing_written(one_day_lake)


def test_a_zero_byte_file_is_refused_by_name(spark, one_day_lake):
    corrupt = _partition(one_day_lake, "2025-09-23") / "rest-1758585600000-1758585660000.parquet"
    corrupt.write_bytes(b"")
    with pytest.raises(LakeError, match="not a Parquet file") as caught:
        build_features(spark, str(one_day_lake))
    assert caught.value.path.endswith(str(corrupt))
    _assert_nothing_written(one_day_lake)


def test_a_symbol_with_no_data_is_refused_by_name(spark, one_day_lake):
    with pytest.raises(LakeError, match="no raw klines for symbol DOGEUSDT interval 1m") as caught:
        build_features(spark, str(one_day_lake), symbols=["DOGEUSDT"])
    assert "symbol=DOGEUSDT" in caught.value.path
    with pytest.raises(LakeError, match="no raw klines for symbol BTCUSDT interval 1m on 2025-10-01"):
        build_features(spark, str(one_day_lake), dates=["2025-10-01"])
    _assert_nothing_written(one_day_lake)


def test_a_lake_without_any_symbol_is_refused(spark, tmp_path):
    with pytest.raises(LakeError, match="no raw klines of interval 1m for any symbol"):
        build_features(spark, str(tmp_path))
    with pytest.raises(ValueError, match="interval must be one of"):
        build_features(spark, str(tmp_path), interval="7m")
