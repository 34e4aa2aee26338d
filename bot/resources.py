"""The daemon's outside resources, opened before anything else: the Redis connection (a private
redis-server when none is configured), the exchange's endpoints (the replay exchange when the
venue is `replay`), and the claim on the Redis namespace. `bot.lake.commands` opens them too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import redis.asyncio as redis
import structlog
from redis.exceptions import RedisError

from bot.bus.redis_keys import RedisKeys
from bot.bus.redis_server import EmbeddedRedis, EmbeddedRedisError
from bot.config import Settings, mask_url_password
from bot.errors import StartupError
from bot.ingest.client import StreamClientSettings
from bot.ingest.service import IngestSettings
from bot.shutdown import HardExit
from bot.sim.exchange import ReplayExchange
from bot.sim.settings import ReplaySettings

log = structlog.get_logger(__name__)


def ingest_settings(settings: Settings) -> IngestSettings:
    ingest = settings.ingest
    return IngestSettings(
        symbols=list(ingest.symbols),
        streams=list(ingest.streams),
        depth_snapshot_limit=ingest.depth_snapshot_limit,
        backfill_max_records=ingest.backfill_max_records,
        client=StreamClientSettings(
            max_streams_per_connection=ingest.max_streams_per_connection,
            control_messages_per_second=ingest.control_messages_per_second,
            connection_lifetime_seconds=ingest.connection_lifetime_seconds,
            handover_timeout_seconds=ingest.connection_overlap_seconds,
            stale_after_seconds=ingest.stale_after_seconds,
            backoff_initial_seconds=ingest.backoff_initial_seconds,
            backoff_max_seconds=ingest.backoff_max_seconds,
            backoff_multiplier=ingest.backoff_multiplier,
        ),
    )


@contextlib.asynccontextmanager
async def redis_connection(
    settings: Settings, seconds_left: Callable[[], float] | None = None, hard_exit: HardExit | None = None,
) -> AsyncIterator[redis.Redis]:
    """The configured Redis, or a private redis-server under the data directory when none is.

    `seconds_left` bounds the private server's stop (SHUTDOWN, which fsyncs its AOF) to what is
    left of the shutdown's grace period; `hard_exit`'s last resort terminates the server if the
    process must end before that stop ran."""
    embedded: EmbeddedRedis | None = None
    url = settings.redis.url
    if url is None:
        embedded = EmbeddedRedis(Path(settings.data_directory))
        try:
            await asyncio.to_thread(embedded.start)
        except EmbeddedRedisError as error:
            raise StartupError(f"{error} (data_directory / TRADEBOT_DATA_DIRECTORY)") from error
        url = embedded.url
        log.info("started private redis-server", url=url, data_directory=str(Path(settings.data_directory) / "redis"))
        if hard_exit is not None:
            hard_exit.add_last_resort(embedded.terminate)
    client = redis.Redis.from_url(
        url, socket_connect_timeout=settings.redis.connect_timeout_seconds,
        socket_timeout=settings.redis.connect_timeout_seconds * 2, health_check_interval=30,
    )
    try:
        try:
            await client.ping()
        except (RedisError, OSError) as error:
            source = "redis.url / TRADEBOT_REDIS__URL" if settings.redis.url else "the private redis-server"
            raise StartupError(f"cannot reach Redis at {mask_url_password(url)}, set by {source}: {error}") from error
        yield client
    finally:
        with contextlib.suppress(RedisError, OSError):
            await client.aclose()
        if embedded is not None:
            if seconds_left is not None:
                embedded.shutdown_timeout_seconds = max(0.5, seconds_left())
            await asyncio.to_thread(embedded.stop)
            if hard_exit is not None:
                hard_exit.remove_last_resort(embedded.terminate)
            log.info("stopped private redis-server")


@contextlib.asynccontextmanager
async def exchange_endpoints(settings: Settings) -> AsyncIterator[tuple[str, str, ReplayExchange | None]]:
    """(REST base URL, websocket base URL, the replay exchange if one was started here)."""
    exchange = settings.exchange
    replay = settings.replay_exchange
    if exchange.venue != "replay" or not replay.enabled or (exchange.rest_base_url and exchange.websocket_base_url):
        if not (exchange.rest_base_url and exchange.websocket_base_url):
            raise StartupError("exchange.rest_base_url and exchange.websocket_base_url are needed when the replay exchange is not started here")
        yield exchange.rest_base_url, exchange.websocket_base_url, None
        return
    simulator = ReplayExchange(ReplaySettings(
        recordings=tuple(replay.recordings), host=replay.host, ws_port=replay.websocket_port,
        rest_port=replay.rest_port, speed=replay.speed, loop=replay.loop,
        weight_limit_per_minute=exchange.rest_weight_limit_per_minute,
    ))
    await simulator.start()
    try:
        yield simulator.rest_base_url, simulator.ws_base_url, simulator
    finally:
        await simulator.stop()


class NamespaceInUseError(StartupError):
    """The Redis namespace holds another venue's record; using it would mix or destroy data."""


async def claim_namespace(client: redis.Redis, keys: RedisKeys, venue: str, replay_here: bool) -> int:
    """Marks the namespace with the venue whose record it holds, and refuses to mix venues.

    A replay exchange started here serves its recording from the beginning each time, so the
    record of an earlier replay would make every event look like a duplicate: such a namespace
    starts empty. That is only ever done to a namespace marked as a replay's, so a live record
    can never be wiped by starting a replay on the same namespace. Returns the keys deleted.
    """
    marker = keys.meta()
    recorded_venue = await client.hget(marker, "venue")
    recorded = recorded_venue.decode() if recorded_venue is not None else None
    # The daemon's own keys (its lease, taken just before) are neither foreign nor record.
    own = keys.daemon_prefix().encode()
    if recorded is None:
        async for key in client.scan_iter(match=f"{keys.namespace}:*", count=1000):
            if key.startswith(own):
                continue
            raise NamespaceInUseError(
                f"Redis namespace {keys.namespace!r} holds keys not written by tradebot; "
                f"choose another redis.namespace"
            )
    elif recorded != venue:
        raise NamespaceInUseError(
            f"Redis namespace {keys.namespace!r} holds the record of venue {recorded!r}, not {venue!r}; "
            f"choose another redis.namespace so the two records never mix"
        )
    deleted = 0
    if replay_here and recorded is not None:
        async for key in client.scan_iter(match=f"{keys.namespace}:*", count=1000):
            if not key.startswith(own):
                deleted += await client.delete(key)
    await client.hset(marker, "venue", venue)
    return deleted
