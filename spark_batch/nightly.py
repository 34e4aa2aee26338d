"""The nightly pipeline, one process: archive -> clean -> features -> train, evaluate -> publish.

Started by bot.nightly.runner (the daemon's cron, `tradebot train`) as
`python -m spark_batch.nightly --settings FILE --report FILE`, or by hand / spark-submit. Every
stage's rows and seconds go into the NightlyReport; any failure ends the run with status
"failed", the error in the report, and nothing promoted (a model is only ever promoted by the
training stage's gate, after every stage before it succeeded).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import structlog

from bot.clock import WallClock
from bot.config import Settings, lake_root
from bot.nightly.report import NightlyReport, encode_report

log = structlog.get_logger("spark_batch.nightly")


class StageTimer:
    def __init__(self, report: NightlyReport) -> None:
        self.report = report

    def run(self, name: str, work: Callable[[], object]) -> object:
        started = time.perf_counter()
        log.info("stage started", stage=name)
        try:
            return work()
        finally:
            self.report.stages[name] = round(time.perf_counter() - started, 3)
            log.info("stage finished", stage=name, seconds=self.report.stages[name])


async def _archive(settings: Settings) -> int:
    """One archive pass of the daemon's Redis streams into the raw layer."""
    import redis.asyncio

    from bot.bus.redis_keys import RedisKeys
    from bot.lake.archive import StreamArchiver
    from bot.lake.layout import LakeLayout
    from bot.lake.writer import RawWriter

    client = redis.asyncio.Redis.from_url(settings.redis.url, socket_connect_timeout=settings.redis.connect_timeout_seconds)
    try:
        archiver = StreamArchiver(
            client, RedisKeys(settings.redis.namespace), RawWriter(LakeLayout(lake_root(settings))), WallClock(),
            settings.lake.archive_batch_size, dict(settings.redis.stream_max_length),
        )
        return (await archiver.archive_once()).rows_written
    finally:
        await client.aclose()


def training_symbols(settings: Settings) -> tuple[str, ...]:
    return settings.nightly.symbols or settings.ingest.symbols


def run_pipeline(settings: Settings, started_at_ns: int, clock=None) -> NightlyReport:
    clock = clock or WallClock()
    nightly = settings.nightly
    report = NightlyReport(status="failed", started_at_ns=started_at_ns, finished_at_ns=started_at_ns, model_name=nightly.model_name)
    stages = StageTimer(report)
    root = lake_root(settings)
    symbols = training_symbols(settings)
    spark = None
    try:
        if nightly.archive_first and settings.redis.url:
            report.rows["archived"] = stages.run("archive", lambda: asyncio.run(_archive(settings)))
        from spark_batch.features import build_features
        from spark_batch.session import build_session

        spark = stages.run("spark_start", lambda: build_session(nightly.spark_master, app_name="tradebot-nightly", settings=nightly.spark_settings))
        counts = stages.run("features", lambda: build_features(spark, root, symbols, nightly.interval))
        report.rows.update(raw=counts.rows_read, clean=counts.rows_written, features=counts.feature_rows_written)
        training = stages.run("train", lambda: _train(settings, spark, root, symbols, clock.now_ns()))
        report.rows["training"] = training.rows_training
        report.model_version = training.version
        report.promoted = training.promoted
        report.decision = training.decision.reason
        report.metrics = {**training.recent_metrics, **training.backtest_metrics}
        report.summary = training.render()
        report.status = "ok"
    except Exception as error:  # noqa: BLE001 - every failure becomes the report's error, nothing promoted
        report.error = f"{type(error).__name__}: {error}"
        log.error("nightly run failed", error=report.error, traceback=traceback.format_exc())
    finally:
        if spark is not None:
            spark.stop()
        _current(settings, report)
        report.finished_at_ns = clock.now_ns()
    return report


def _train(settings: Settings, spark, root: str, symbols: tuple[str, ...], now_ns: int):
    from bot.models.registry import ModelRegistry
    from spark_batch.session import is_local
    from spark_batch.signal_backtest import backtest_candidate
    from spark_batch.train_job import train_and_publish
    from spark_batch.training_data import read_training_table, read_training_table_spark

    nightly = settings.nightly
    on_cluster = nightly.training_engine == "spark" or not is_local(nightly.spark_master)
    table = (
        read_training_table_spark(spark, root, interval=nightly.interval, symbols=symbols) if on_cluster
        else read_training_table(root, interval=nightly.interval, symbols=symbols)
    )
    optional = {} if nightly.flat_threshold is None else {"threshold": nightly.flat_threshold}
    return train_and_publish(
        table, registry=ModelRegistry(settings.models.root_under(settings.data_directory)), name=nightly.model_name,
        kind=nightly.model_kind, horizon=nightly.horizon_bars, engine=nightly.training_engine, now_ns=now_ns,
        keep=settings.models.keep_versions, spark=spark, interval=nightly.interval, folds=nightly.folds,
        signal_backtest=lambda directory, window: backtest_candidate(root, symbols, nightly.interval, directory, window),
        **optional,
    )


def _current(settings: Settings, report: NightlyReport) -> None:
    """Which version is current after the run (whatever happened), for the metrics."""
    from bot.models.registry import ModelRegistry

    try:
        registry = ModelRegistry(settings.models.root_under(settings.data_directory))
        version = registry.current_version(settings.nightly.model_name)
        if version:
            report.current_version = version
            report.current_trained_until_ms = registry.load_manifest(settings.nightly.model_name, version).training_window.end_ms
    except Exception as error:  # noqa: BLE001 - the report must still be written
        log.warning("current model unreadable", error=str(error))


def write_report(report: NightlyReport, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(encode_report(report))
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spark_batch.nightly", description=__doc__.splitlines()[0])
    parser.add_argument("--settings", type=Path, required=True, help="the daemon's settings as JSON")
    parser.add_argument("--report", type=Path, required=True, help="where to write the NightlyReport (JSON)")
    parser.add_argument("--started-ns", type=int, help="when the run was started (default: now)")
    arguments = parser.parse_args(argv)
    from bot.logging_setup import configure_logging

    settings = Settings.model_validate_json(arguments.settings.read_text(encoding="utf-8"))
    configure_logging(settings.logging.level, "console")
    report = run_pipeline(settings, arguments.started_ns or WallClock().now_ns())
    write_report(report, arguments.report)
    print(report.summary or report.error, flush=True)
    return 0 if report.status == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
