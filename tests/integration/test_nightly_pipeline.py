"""The whole nightly pipeline as a user runs it: `tradebot backfill` fills the lake from the
exchange's REST API (the replay exchange, serving real BTCUSDT and ETHUSDT 1m klines of
2025-09-22..25), then `tradebot train` archives, builds clean and feature layers on Spark
(local[2]), trains, evaluates walk-forward, backtests the candidate's signals and publishes it
through the gate. Bad input (an empty Parquet partition, a symbol with no data, a horizon longer
than the data) and a run past its time limit end with a clear error and no model promoted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
import redis

from bot.bus.redis_keys import RedisKeys
from bot.config import load_settings
from bot.models.registry import ModelRegistry
from bot.nightly.report import decode_report
from bot.status import redis_url_of
from market_files import BTC_2025, ETH_2025, RECORDINGS

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.slow


def write_config(directory: Path, **nightly) -> Path:
    config = directory / "tradebot.yaml"
    config.write_text(
        f"data_directory: {directory / 'var'}\n"
        "ingest: {symbols: [BTCUSDT, ETHUSDT]}\n"
        "metrics: {enabled: false}\n"
        "logging: {format: json, level: WARNING}\n"
        f"replay_exchange: {{recordings: [{RECORDINGS / BTC_2025}, {RECORDINGS / ETH_2025}], speed: null}}\n"
        f"nightly: {json.dumps({'folds': 3, **nightly})}\n"
    )
    return config


def tradebot(*arguments: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def backfill(config: Path) -> None:
    result = tradebot("backfill", "--config", str(config), "--symbols", "BTCUSDT,ETHUSDT", "--from", "2025-09-22", "--to", "2025-09-25")
    assert result.returncode == 0, result.stderr


def stored_run(config: Path):
    """The last run's report and the alerts, as the daemon's Redis holds them."""
    settings = load_settings(config)
    keys = RedisKeys(settings.redis.namespace)
    with redis_url_of(settings) as (url, _), redis.Redis.from_url(url) as client:
        report = decode_report(client.hget(keys.nightly_last_run(), "report"))
        alerts = [json.loads(fields[b"alert"]) for _, fields in client.xrange(keys.alerts())]
    return report, alerts


def registry_of(config: Path) -> ModelRegistry:
    settings = load_settings(config)
    return ModelRegistry(settings.models.root_under(settings.data_directory))


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("nightly")
    config = write_config(directory)
    backfill(config)
    return config


def test_train_runs_every_stage_and_publishes_through_the_gate(lake):
    result = tradebot("train", "--config", str(lake))
    assert result.returncode == 0, result.stderr + result.stdout
    report, alerts = stored_run(lake)
    assert report.status == "ok" and report.error == ""
    assert list(report.stages) == ["archive", "spark_start", "features", "train"]
    assert report.rows["raw"] == report.rows["clean"] == report.rows["features"] == 2 * 4_319
    assert 0 < report.rows["training"] < report.rows["features"]  # warm-up, labels and the test window excluded
    registry = registry_of(lake)
    assert registry.versions("signal") == [report.model_version]
    manifest, model = registry.read("signal", report.model_version)
    assert manifest.symbols == ("BTCUSDT", "ETHUSDT") and manifest.label.horizon_bars == 10
    assert manifest.training_window.end_ms < manifest.test_window.start_ms
    assert {"xgboost", "pyspark", "python", "tradebot"} <= set(manifest.library_versions)
    assert "log_loss" in report.metrics and "backtest_trades" in report.metrics
    # Promoted or not, the outcome is consistent everywhere and said out loud.
    assert report.promoted == (registry.current_version("signal") == report.model_version)
    assert ("PROMOTED" if report.promoted else "stored, not promoted") in result.stdout
    if not report.promoted:
        assert [alert["kind"] for alert in alerts] == ["model_not_promoted"]
        assert report.decision in alerts[0]["message"]


@pytest.mark.parametrize(
    ("nightly", "damage", "words"),
    [
        ({}, "empty partition", "BTCUSDT"),
        ({"symbols": ["BTCUSDT", "DOGEUSDT"]}, None, "DOGEUSDT"),
        ({"horizon_bars": 5_000}, None, "5000"),
    ],
    ids=["empty-parquet-partition", "symbol-without-data", "horizon-longer-than-data"],
)
def test_bad_input_fails_the_run_clearly_and_promotes_nothing(lake, tmp_path, nightly, damage, words):
    config = write_config(tmp_path, **nightly)
    target = copy_lake(lake, config)
    if damage == "empty partition":
        partition = next(target.glob("raw/klines/interval=1m/symbol=BTCUSDT/date=2025-09-23"))
        for file in partition.iterdir():
            file.unlink()
    result = tradebot("train", "--config", str(config))
    assert result.returncode == 1
    report, alerts = stored_run(config)
    assert report.status == "failed" and words in report.error
    assert report.promoted is False and report.model_version == ""
    assert registry_of(config).versions("signal") == []  # nothing stored, nothing promoted
    assert [alert["kind"] for alert in alerts] == ["nightly_failed"]
    assert "failed" in result.stderr and words in result.stderr


def spark_drivers() -> set[str]:
    found = subprocess.run(["pgrep", "-f", "org.apache.spark.deploy.SparkSubmit"], capture_output=True, text=True)
    return set(found.stdout.split())


def test_a_run_past_its_time_limit_is_stopped_and_reported(lake, tmp_path):
    config = write_config(tmp_path)
    drivers_before = spark_drivers()
    result = tradebot("train", "--config", str(config), "--time-limit-minutes", "0.05")
    assert result.returncode == 1
    report, alerts = stored_run(config)
    assert report.status == "timeout" and "time limit of 3 s" in report.error
    assert [alert["kind"] for alert in alerts] == ["nightly_failed"]
    # The child and its JVM were stopped with it: no pipeline process or Spark driver is left.
    assert subprocess.run(["pgrep", "-f", "spark_batch.nightly"], capture_output=True).returncode == 1
    assert spark_drivers() <= drivers_before


def copy_lake(source_config: Path, target_config: Path) -> Path:
    source = Path(load_settings(source_config).data_directory) / "lake"
    target = Path(load_settings(target_config).data_directory) / "lake"
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-r", str(source), str(target)], check=True)
    return target


@pytest.mark.timeout(900)  # a JVM master, a worker, a driver and executors on 2 cores: minutes, not seconds
def test_the_same_job_runs_unchanged_on_a_standalone_spark_cluster(lake, tmp_path):
    """A real Spark master and worker on loopback (the stock daemons from the pyspark wheel): the
    pipeline, given --master spark://... (and, as configuration, the shuffle partitions its small
    data wants), builds the same features and trains on the cluster with xgboost.spark."""
    from spark_cluster import standalone_cluster

    # Four days of two symbols: Spark's 200 shuffle partitions would make every step 200 nearly
    # empty tasks (1.4-2.5 s each here): its stages took 166 s, 74 s with 4 (docs/architecture.md).
    config = write_config(tmp_path, spark_settings={"spark.sql.shuffle.partitions": "4"})
    target = copy_lake(lake, config)
    with standalone_cluster(tmp_path / "spark") as master:
        result = tradebot("train", "--config", str(config), "--master", master, timeout=900)
    assert result.returncode == 0, result.stderr + result.stdout
    report, _ = stored_run(config)
    assert report.status == "ok" and report.rows["features"] == 2 * 4_319
    assert "engine spark" in report.summary  # xgboost.spark, not single-node
    manifest, _ = registry_of(config).read("signal", report.model_version)
    assert manifest.training_window.end_ms < manifest.test_window.start_ms
    # The cluster's feature layer is the daemon's incremental features (`tradebot features`' engine).
    import pyarrow.dataset as dataset

    from bot.features.spec import FEATURE_SPEC
    from bot.features.table import feature_rows
    from bot.features_command import load_klines

    table = dataset.dataset(target / "features", format="parquet", partitioning="hive").to_table().to_pandas()
    for symbol, recording in (("BTCUSDT", BTC_2025), ("ETHUSDT", ETH_2025)):
        cluster = table[table["symbol"] == symbol].sort_values("open_time_ms")
        daemon = feature_rows(load_klines(RECORDINGS / recording, symbol, "1m"))
        assert cluster["open_time_ms"].tolist() == [row[0] for row in daemon]
        for index, name in enumerate(FEATURE_SPEC.names):
            for (_, values), spark_value in list(zip(daemon, cluster[name]))[1_000:]:
                assert abs(values[index] - spark_value) <= 1e-9 * max(abs(values[index]), 1e-12), (symbol, name)
