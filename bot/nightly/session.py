"""A NightlyRunner for a command run outside the daemon, on the daemon's Redis."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import redis.asyncio

from bot.alerts import RedisAlertStream
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
async def nightly_runner(settings: Settings, metrics: NightlyMetrics | None = None) -> AsyncIterator[NightlyRunner]:
    with redis_url_of(settings) as (url, _source):
        client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=settings.redis.connect_timeout_seconds)
        try:
            await client.ping()
            keys = RedisKeys(settings.redis.namespace)
            yield NightlyRunner(with_redis_url(settings, url), client, keys, RedisAlertStream(client, keys.alerts()), WallClock(), metrics)
        finally:
            await client.aclose()
