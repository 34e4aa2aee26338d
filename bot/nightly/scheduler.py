"""The nightly cron inside the daemon (or `tradebot scheduler` on its own), on APScheduler.

APScheduler's AsyncIOScheduler runs the job on the daemon's event loop; the job itself only waits
on a child process (bot.nightly.runner), so the loop never blocks. `max_instances=1` and
`coalesce=True` keep one run per process; the Redis lock keeps one run across processes. A run
missed while the daemon was down is started late if the daemon comes back within the grace time,
and skipped otherwise (the next night catches up: the lake keeps everything).
"""

from __future__ import annotations

import asyncio

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.nightly.runner import NightlyBusy, NightlyRunner

log = structlog.get_logger("bot.nightly")

MISFIRE_GRACE_SECONDS = 3600


class NightlyScheduler:
    def __init__(self, runner: NightlyRunner, cron: str) -> None:
        self._runner = runner
        self.trigger = CronTrigger.from_crontab(cron, timezone="UTC")
        self._scheduler: AsyncIOScheduler | None = None
        self.runs = 0

    def start(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone="UTC", event_loop=asyncio.get_running_loop())
        self._scheduler.add_job(
            self._run, self.trigger, id="nightly", max_instances=1, coalesce=True,
            misfire_grace_time=MISFIRE_GRACE_SECONDS,
        )
        self._scheduler.start()
        log.info("nightly pipeline scheduled", cron=str(self.trigger), next_run=str(self.next_run_time))

    @property
    def next_run_time(self):
        job = self._scheduler.get_job("nightly") if self._scheduler else None
        return job.next_run_time if job else None

    async def _run(self) -> None:
        self.runs += 1
        try:
            await self._runner.run(trigger="schedule")
        except NightlyBusy as busy:
            log.warning("nightly run skipped", reason=str(busy))
        except Exception:  # noqa: BLE001 - a failed night must not stop the scheduler (or the daemon)
            log.exception("nightly run could not be started")

    def shutdown(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
