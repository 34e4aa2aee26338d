"""A NightlyRunner for a command run outside the daemon, on the daemon's Redis."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import redis.asyncio

from bot.alerts.assembly import AlertService
from bot.alerts.metrics import AlertMetrics
from bot.bus.redis_keys import RedisKeys
from bot.clock import WallClock
from bot.config import Settings
from bot.nightly.metrics import NightlyMetrics
from bot.nightly.runner import NightlyRunner
from bot.status import redis_url_of


def with_redis_url(settings: Settings, url: str) -> Settings:
    """The settings the pipeline process gets: the Redis it must use named explicitly, so it never
    starts a private server of its own beside the daemon's."""
    return settings.model_copy(update={"redis": settings.redis.model_copy(update={"url": url})})


@contextlib.asynccontextmanager
async def nightly_runner(
    settings: Settings, metrics: NightlyMetrics | None = None, alert_metrics: AlertMetrics | None = None,
) -> AsyncIterator[NightlyRunner]:
    """The runner with the configured alert channels (Telegram, webhooks, ...), so a failed run
    outside the daemon reaches the operator too; queued alerts are delivered before it returns."""
    with redis_url_of(settings) as (url, _source):
        client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=settings.redis.connect_timeout_seconds)
        alerts = None
        try:
            await client.ping()
            keys = RedisKeys(settings.redis.namespace)
            alerts = AlertService(settings, client, keys, WallClock(), alert_metrics or AlertMetrics())
            dispatcher = await alerts.start()  # no Telegram commands: the daemon answers those
            yield NightlyRunner(with_redis_url(settings, url), client, keys, dispatcher, WallClock(), metrics)
        finally:
            if alerts is not None:
                await alerts.close(settings.alerts.request_timeout_seconds)
            await client.aclose()
