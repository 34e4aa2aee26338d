"""When a daemon that started its own replay exchange is done: the recording has been sent, every
frame of it handled and in Redis, and the engine has read the whole record. Without this the
daemon would go on reporting a silent market for ever."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from bot.bus.redis_writer import RedisStreamWriter
from bot.engine.runner import EngineRunner
from bot.ingest.metrics import IngestMetrics
from bot.ingest.service import IngestService
from bot.sim.exchange import ReplayExchange
from bot.waiting import first_of

log = structlog.get_logger(__name__)

# Frames still in flight when the exchange finishes are given this long to be handled.
_DRAIN_SECONDS = 10


async def until_stopped_or_replayed(
    stop: asyncio.Event, simulator: ReplayExchange, service: IngestService, writer: RedisStreamWriter,
    runner: EngineRunner | None, metrics: IngestMetrics,
) -> None:
    """Returns when `stop` is set, or when the replay has ended and everything it sent is handled."""
    replayed = asyncio.create_task(simulator.wait_finished())
    try:
        await first_of(replayed, stop)
    finally:
        replayed.cancel()
    if stop.is_set():
        return
    sent = simulator.counters.frames_sent
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            while _frames_handled(metrics) < sent and not stop.is_set():
                await asyncio.sleep(0.05)
            await service.wait_idle()
            await writer.drained()
    if runner is not None:
        await _engine_caught_up(runner, stop)
    log.info("the replay reached the end of its recording; stopping (replay_exchange.loop replays it again)", frames=sent)


async def _engine_caught_up(runner: EngineRunner, stop: asyncio.Event) -> None:
    """Waits until the engine has handled the whole record (it may lag ingest)."""
    while not stop.is_set():
        runner.caught_up.clear()
        await first_of(runner.caught_up, stop)
        if runner.caught_up.is_set():
            return


def _frames_handled(metrics: IngestMetrics) -> int:
    return int(metrics.total("tradebot_ingest_messages_total") + metrics.total("tradebot_ingest_parse_errors_total"))
