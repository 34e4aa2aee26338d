"""One nightly run, started by the scheduler or `tradebot train`: lock, child process, outcome.

The pipeline runs in a child process (`python -m spark_batch.nightly`), never in the daemon's:
Spark starts a JVM, training takes every core, and a run past its time limit must be stoppable,
which a thread is not. The child gets the daemon's settings as a JSON file (secrets are dumped
masked: the pipeline needs none) and writes its NightlyReport to another file. Its output goes to
`<data_directory>/nightly/<start>.log`.

Only one run at a time, across processes: a Redis lock held for the run (`redis-py`'s Lock, a
token-checked SET NX PX, released only by its holder), with a lease a little longer than the
time limit so a crashed holder cannot block the next night.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import redis.asyncio
import structlog
from redis.exceptions import LockError

from bot.alerts import Alert, AlertSink
from bot.bus.redis_keys import RedisKeys
from bot.clock import Clock
from bot.config import Settings
from bot.nightly.metrics import NightlyMetrics
from bot.nightly.report import NightlyReport, decode_report, encode_report

log = structlog.get_logger("bot.nightly")

LOCK_MARGIN_SECONDS = 300  # the lease outlives the time limit by this much
KILL_GRACE_SECONDS = 20  # after SIGTERM (Spark shuts its JVM down), before SIGKILL
LOG_TAIL_CHARACTERS = 2000


class NightlyBusy(Exception):
    """Another nightly run holds the lock."""


def _log_path(settings: Settings, started_ns: int) -> Path:
    stamp = datetime.fromtimestamp(started_ns / 1e9, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = settings.data_directory / "nightly"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{stamp}.log"


def _tail(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARACTERS:]
    except OSError:
        return ""


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the child's whole process group, give it the grace time, then SIGKILL whatever of
    the group is left: the Spark JVM is in that group and may outlive the python process."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        await asyncio.wait_for(process.wait(), KILL_GRACE_SECONDS)
    except (TimeoutError, asyncio.TimeoutError):
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    await process.wait()


async def run_pipeline_process(settings: Settings, clock: Clock, time_limit_seconds: float | None = None) -> NightlyReport:
    """Run spark_batch.nightly in a child process and return its report; a crash or a time-out
    becomes a report with status failed/timeout and the end of the child's log as the error."""
    limit = time_limit_seconds if time_limit_seconds is not None else settings.nightly.time_limit_minutes * 60.0
    started_ns = clock.now_ns()
    log_path = _log_path(settings, started_ns)
    with tempfile.TemporaryDirectory(prefix="tradebot-nightly-") as scratch:
        settings_path, report_path = Path(scratch) / "settings.json", Path(scratch) / "report.json"
        settings_path.write_text(settings.model_dump_json(), encoding="utf-8")
        with open(log_path, "wb") as output:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "spark_batch.nightly", "--settings", str(settings_path),
                "--report", str(report_path), "--started-ns", str(started_ns),
                stdout=output, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            )
            log.info("nightly run started", pid=process.pid, log=str(log_path), time_limit_seconds=limit)
            try:
                await asyncio.wait_for(process.wait(), limit)
            except (TimeoutError, asyncio.TimeoutError):
                await _stop(process)
                return NightlyReport(
                    status="timeout", started_at_ns=started_ns, finished_at_ns=clock.now_ns(),
                    error=f"stopped after the time limit of {limit:.0f} s (nightly.time_limit_minutes); log: {log_path}",
                )
            except asyncio.CancelledError:
                await _stop(process)  # the daemon is stopping: never leave a Spark job behind
                raise
        if report_path.exists():
            try:
                return decode_report(report_path.read_bytes())
            except ValueError as error:
                detail = f"unreadable report ({error})"
        else:
            detail = f"exited with code {process.returncode} without a report"
        return NightlyReport(
            status="failed", started_at_ns=started_ns, finished_at_ns=clock.now_ns(),
            error=f"pipeline process {detail}; log {log_path}:\n{_tail(log_path)}",
        )


class NightlyRunner:
    """Runs the pipeline under the lock and turns the outcome into state, metrics, alerts and the
    announcement of a promoted model."""

    def __init__(
        self, settings: Settings, client: redis.asyncio.Redis, keys: RedisKeys, alerts: AlertSink,
        clock: Clock, metrics: NightlyMetrics | None = None,
    ) -> None:
        self.settings = settings
        self._client = client
        self._keys = keys
        self._alerts = alerts
        self._clock = clock
        self._metrics = metrics

    async def run(self, trigger: str, time_limit_seconds: float | None = None) -> NightlyReport:
        """Raises NightlyBusy if another run holds the lock."""
        limit = time_limit_seconds if time_limit_seconds is not None else self.settings.nightly.time_limit_minutes * 60.0
        lock = self._client.lock(self._keys.nightly_lock(), timeout=limit + LOCK_MARGIN_SECONDS, blocking=False)
        if not await lock.acquire():
            raise NightlyBusy(f"another nightly run holds {self._keys.nightly_lock()}; not starting a second")
        started = time.monotonic()
        try:
            report = await run_pipeline_process(self.settings, self._clock, limit)
        finally:
            try:
                await lock.release()
            except LockError:
                log.warning("nightly lock had expired before the run ended", key=self._keys.nightly_lock())
        log.info(
            "nightly run finished", trigger=trigger, status=report.status, seconds=round(time.monotonic() - started, 1),
            model=report.model_name, version=report.model_version, promoted=report.promoted, decision=report.decision,
            rows=report.rows, error=report.error[:300] or None,
        )
        await self._record(report)
        await self._announce(report)
        return report

    async def restore_metrics(self) -> bool:
        """Set the metrics from the last run recorded in Redis, so a process that starts after a
        failed night (`tradebot scheduler` restarted, say) shows the failure instead of no series
        until the next run. False when no run is recorded or there are no metrics."""
        if self._metrics is None:
            return False
        recorded = await self._client.hget(self._keys.nightly_last_run(), "report")
        if recorded is None:
            return False
        try:
            report = decode_report(recorded)
        except Exception as error:  # noqa: BLE001 - an unreadable old report must not stop the start
            log.warning("last nightly report in Redis is unreadable; metrics start empty", error=str(error))
            return False
        self._metrics.observe(report)
        return True

    async def _record(self, report: NightlyReport) -> None:
        await self._client.hset(self._keys.nightly_last_run(), mapping={
            "report": encode_report(report), "finished_at_ns": str(report.finished_at_ns), "status": report.status,
        })
        if self._metrics is not None:
            self._metrics.observe(report)

    async def _announce(self, report: NightlyReport) -> None:
        name = report.model_name or self.settings.nightly.model_name
        details = {"model": name, "version": report.model_version}
        if report.status != "ok":
            await self._alerts.send(Alert(
                kind="nightly_failed", severity="critical", at_ns=self._clock.now_ns(),
                message=f"nightly run {report.status}: {report.error.splitlines()[0] if report.error else 'no detail'}",
                details={**details, "status": report.status},
            ))
        elif report.promoted:
            # The daemon's model watcher also polls CURRENT: this only makes the switch immediate.
            await self._client.publish(self._keys.model_channel(name), report.model_version)
            await self._alerts.send(Alert(
                kind="model_promoted", severity="info", at_ns=self._clock.now_ns(),
                message=f"{name} {report.model_version} promoted: {report.decision}",
                details=details,
            ))
        elif report.model_version:
            await self._alerts.send(Alert(
                kind="model_not_promoted", severity="warning", at_ns=self._clock.now_ns(),
                message=f"{name} {report.model_version} stored but not promoted: {report.decision}",
                details={**details, "current": report.current_version},
            ))
