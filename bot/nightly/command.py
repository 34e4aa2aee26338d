"""`tradebot train` (one pipeline run now) and `tradebot scheduler` (the nightly cron on its own)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import structlog

log = structlog.get_logger("bot.nightly")

SPARK_MASTER_HELP = "local[N] or a cluster master URL (spark://host:7077); default: nightly.spark_master"


def add_nightly_parsers(commands) -> None:
    train = commands.add_parser("train", help="run the nightly pipeline now: archive, Spark features, train, evaluate, publish")
    train.add_argument("--config", type=Path, help="settings file (default: config/tradebot.yaml or $TRADEBOT_CONFIG)")
    train.add_argument("--master", help=SPARK_MASTER_HELP)
    train.add_argument("--time-limit-minutes", type=float, help="default: nightly.time_limit_minutes")
    scheduler = commands.add_parser("scheduler", help="run only the nightly pipeline's schedule (nightly.cron), without the daemon")
    scheduler.add_argument("--config", type=Path, help="settings file (default: config/tradebot.yaml or $TRADEBOT_CONFIG)")
    scheduler.add_argument("--master", help=SPARK_MASTER_HELP)


def _settings(arguments: argparse.Namespace, load):
    settings = load(arguments.config)
    if arguments.master:
        try:
            nightly = settings.nightly.model_validate({**settings.nightly.model_dump(), "spark_master": arguments.master})
        except ValueError as error:
            print(f"tradebot {arguments.command}: --master: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        settings = settings.model_copy(update={"nightly": nightly})
    return settings


def run_train_command(arguments: argparse.Namespace, load) -> int:
    """Exit 0 when the run finished (promoted or not: the report says which), 1 when it failed or
    timed out, 3 when another run holds the lock."""
    from bot.nightly.session import nightly_runner
    from bot.nightly.runner import NightlyBusy

    settings = _settings(arguments, load)
    limit = arguments.time_limit_minutes * 60.0 if arguments.time_limit_minutes else None

    async def train() -> int:
        async with nightly_runner(settings) as runner:
            try:
                report = await runner.run(trigger="command", time_limit_seconds=limit)
            except NightlyBusy as busy:
                print(f"tradebot train: {busy}", file=sys.stderr)
                return 3
        print(report.summary or f"nightly run {report.status}")
        if report.status != "ok":
            print(f"tradebot train: {report.status}: {report.error}", file=sys.stderr)
            return 1
        return 0

    try:
        return asyncio.run(train())
    except Exception as error:  # a dead Redis, an unusable data directory: one clear line
        print(f"tradebot train: {error}", file=sys.stderr)
        return 1


def run_scheduler_command(arguments: argparse.Namespace, load, run_until_signal) -> int:
    """The cron alone, in its own process (the compose `nightly` service). It serves /healthz and
    /metrics (the tradebot_nightly_* gauges) on metrics.host:metrics.port like the daemon, so
    Prometheus can scrape the outcome of the last night and a container can be health-checked."""
    from prometheus_client import CollectorRegistry

    from bot.alerts.metrics import AlertMetrics
    from bot.http.server import HttpServer
    from bot.nightly.metrics import NightlyMetrics
    from bot.nightly.scheduler import NightlyScheduler
    from bot.nightly.session import nightly_runner

    settings = _settings(arguments, load)

    async def serve(stop: asyncio.Event) -> None:
        # Its own registry, as each daemon has: nothing from prometheus_client's global one.
        registry = CollectorRegistry()
        async with nightly_runner(settings, NightlyMetrics(registry), AlertMetrics(registry)) as runner:
            await runner.restore_metrics()
            server = HttpServer(registry, settings.metrics.host, settings.metrics.port) if settings.metrics.enabled else None
            if server is not None:
                await server.start()
                log.info("metrics and health endpoint listening", url=server.url)
            scheduler = NightlyScheduler(runner, settings.nightly.cron)
            scheduler.start()
            try:
                await stop.wait()
            finally:
                scheduler.shutdown()
                if server is not None:
                    await server.stop()

    return asyncio.run(run_until_signal(serve))
