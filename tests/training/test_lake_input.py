"""The training table read from a contract-B lake (features + clean klines, Parquet written here
with pyarrow from the real BTCUSDT/ETHUSDT bars), bad inputs refused with nothing stored, and the
whole run on Spark (local[2])."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bot.features.spec import FEATURE_SPEC
from bot.models.registry import ModelRegistry
from spark_batch.labels import LabelError
from spark_batch.train_job import train_and_publish
from spark_batch.training import TrainingError, TrainingParameters
from spark_batch.training_data import read_training_table, read_training_table_spark
from training.lake_support import SYMBOLS, training_frame, write_lake

NOW_NS = 1_758_844_800 * 10**9
FAST = TrainingParameters(n_estimators=20, max_depth=2)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_lake(tmp_path_factory.mktemp("lake"))


def _publish(frame, registry: ModelRegistry, **options):
    return train_and_publish(
        frame, registry=registry, name="direction", kind="classifier", now_ns=NOW_NS, parameters=FAST,
        engine=options.pop("engine", "local"), folds=options.pop("folds", 2), **options,
    )


def test_reads_back_the_features_joined_with_close(lake: Path) -> None:
    table = read_training_table(str(lake), interval="1m", symbols=list(SYMBOLS))
    expected = training_frame()[table.columns]
    assert len(table) == 2 * 4319
    pd.testing.assert_frame_equal(table.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False)


def _copy_lake(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target


def _assert_nothing_stored(registry: ModelRegistry) -> None:
    assert registry.versions("direction") == []
    assert registry.current_version("direction") is None


def test_empty_partition_is_refused_naming_it(lake: Path, tmp_path: Path) -> None:
    root = _copy_lake(lake, tmp_path / "lake")
    victim = root / "features/interval=1m/symbol=ETHUSDT/date=2025-09-23/part-0.parquet"
    table = pq.read_table(victim)
    pq.write_table(table.slice(0, 0), victim)
    with pytest.raises(TrainingError, match=r"ETHUSDT: empty Parquet partition file .*date=2025-09-23/part-0.parquet"):
        read_training_table(str(root), interval="1m", symbols=list(SYMBOLS))


def test_corrupt_file_is_refused_naming_it(lake: Path, tmp_path: Path, spark) -> None:
    root = _copy_lake(lake, tmp_path / "lake")
    victim = root / "clean/klines/interval=1m/symbol=BTCUSDT/date=2025-09-24/part-0.parquet"
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])  # a half-written file
    for read in (
        lambda: read_training_table(str(root), interval="1m", symbols=list(SYMBOLS)),
        lambda: read_training_table_spark(spark, str(root), interval="1m", symbols=list(SYMBOLS)),
    ):
        with pytest.raises(TrainingError, match=r"BTCUSDT: corrupt Parquet file .*date=2025-09-24/part-0.parquet"):
            read()


def test_a_symbol_without_data_is_refused(lake: Path, spark) -> None:
    with pytest.raises(TrainingError, match=r"SOLUSDT: no features data for interval 1m \(no directory .*symbol=SOLUSDT\)"):
        read_training_table(str(lake), interval="1m", symbols=["BTCUSDT", "SOLUSDT"])
    with pytest.raises(TrainingError, match=r"SOLUSDT: no features data"):
        read_training_table_spark(spark, str(lake), interval="1m", symbols=["SOLUSDT"])


def test_features_of_another_spec_version_are_refused(lake: Path, tmp_path: Path) -> None:
    root = _copy_lake(lake, tmp_path / "lake")
    victim = root / "features/interval=1m/symbol=BTCUSDT/date=2025-09-22/part-0.parquet"
    table = pq.read_table(victim)
    index = table.column_names.index("feature_spec_version")
    table = table.set_column(index, "feature_spec_version", pa.array(["0"] * table.num_rows))
    pq.write_table(table, victim)
    with pytest.raises(TrainingError, match=rf"features computed with spec version \['0'\], this job trains on spec {FEATURE_SPEC.version}"):
        read_training_table(str(root), interval="1m", symbols=["BTCUSDT"])


def test_horizon_longer_than_the_data_stores_nothing(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    short = training_frame(("BTCUSDT",)).head(30)
    with pytest.raises(LabelError, match=r"BTCUSDT: 30 rows, horizon 60 bars"):
        _publish(short, registry, horizon=60)
    _assert_nothing_stored(registry)
    with pytest.raises(TrainingError, match=r"no row has every feature"):  # 30 bars: still warming up
        _publish(short, registry, horizon=10)
    _assert_nothing_stored(registry)


def test_the_whole_run_on_spark_matches_the_local_run_on_its_training_rows(lake: Path, tmp_path: Path, spark) -> None:
    frame = read_training_table_spark(spark, str(lake), interval="1m", symbols=list(SYMBOLS))
    spark_registry = ModelRegistry(tmp_path / "spark")
    on_spark = _publish(frame, spark_registry, engine="spark", spark=spark, folds=1)
    local_registry = ModelRegistry(tmp_path / "local")
    local = _publish(read_training_table(str(lake), interval="1m", symbols=list(SYMBOLS)), local_registry, folds=1)
    assert on_spark.engine == "spark" and local.engine == "local"
    assert on_spark.rows_input == local.rows_input == 2 * 4319
    assert on_spark.rows_usable == local.rows_usable
    assert on_spark.folds[0].plan == local.folds[0].plan
    assert on_spark.rows_training == local.rows_training
    # The same training rows, hashed on the executors and on the driver: one fingerprint.
    assert on_spark.data_fingerprint == local.data_fingerprint
    spark_manifest = spark_registry.load_manifest("direction", on_spark.version)
    local_manifest = local_registry.load_manifest("direction", local.version)
    assert spark_manifest.training_window == local_manifest.training_window
    assert spark_manifest.test_window == local_manifest.test_window
    assert spark_manifest.data_fingerprint == local_manifest.data_fingerprint
    # Different engines, close scores on the same window (see test_engines for the tolerance).
    assert on_spark.recent_metrics["log_loss"] == pytest.approx(local.recent_metrics["log_loss"], rel=0.02)
    assert on_spark.promoted == (on_spark.decision.candidate_score < on_spark.decision.baseline_score)
    print(on_spark.render())
