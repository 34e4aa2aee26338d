"""The daemon's start and stop in-process, against a real Redis and the bundled real recording:
the shutdown hooks run after the flush, with the time they have left, inside the grace period; a
lost lease stops the daemon; the namespace claim leaves the lease alone."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
import redis

from bot.app import Daemon
from bot.resources import claim_namespace
from bot.bus.namespace_lease import LeaseLostError, NamespaceLease, NamespaceLockedError
from bot.bus.redis_keys import RedisKeys
from bot.clock import WallClock
from bot.config import load_settings
from bot.shutdown import EXIT_INCOMPLETE

ROOT = Path(__file__).parents[2]
KEYS = RedisKeys("tradebot")


def settings(redis_url: str, data_directory: Path, **extra: str):
    return load_settings(ROOT / "config/tradebot.yaml", {
        "TRADEBOT_REDIS__URL": redis_url, "TRADEBOT_DATA_DIRECTORY": str(data_directory),
        "TRADEBOT_METRICS__ENABLED": "false", "TRADEBOT_REPLAY_EXCHANGE__SPEED": "10",
        "TRADEBOT_ENGINE__ENABLED": "false", **extra,
    })


async def test_shutdown_hooks_run_after_the_flush_and_a_hung_one_is_cut_at_its_share(redis_url, tmp_path):
    daemon = Daemon(settings(redis_url, tmp_path, TRADEBOT_LIFECYCLE__SHUTDOWN_GRACE_SECONDS="2"))
    seen: dict[str, object] = {}

    async def flush_alerts(seconds_left: float) -> None:
        seen["seconds_left"] = seconds_left
        seen["backlog"] = daemon.writer.backlog
        with redis.Redis.from_url(redis_url) as client:  # the lease is released only after the hooks
            seen["lease_holder"] = client.get(KEYS.daemon_lock("ingest"))

    async def hangs(seconds_left: float) -> None:
        await asyncio.sleep(3600)

    daemon.shutdown_hooks += [flush_alerts, hangs]
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(stop))
    await asyncio.wait_for(daemon.ready.wait(), 60)
    await asyncio.sleep(1.0)  # ingest has data in flight
    stopped_at = time.monotonic()
    stop.set()
    await asyncio.wait_for(running, 10)
    seconds = time.monotonic() - stopped_at

    assert seconds <= 2.0
    assert seen["backlog"] == 0  # everything received was in Redis before the hooks ran
    assert 0 < seen["seconds_left"] <= 0.85 * 2
    assert seen["lease_holder"] == daemon.leases[0].owner.encode() and len(daemon.leases) == 1  # ingest only
    assert daemon.exit_code == EXIT_INCOMPLETE  # the hung hook was cut short, and said so
    with redis.Redis.from_url(redis_url) as client:
        assert client.exists(KEYS.daemon_lock("ingest")) == 0
        assert client.xlen(KEYS.stream("trade", "BTCUSDT")) > 0


async def test_a_lost_lease_stops_the_daemon(redis_url, tmp_path):
    daemon = Daemon(settings(redis_url, tmp_path, TRADEBOT_LIFECYCLE__LOCK_LEASE_SECONDS="1",
                             TRADEBOT_LIFECYCLE__LOCK_RENEW_SECONDS="0.2"))
    running = asyncio.create_task(daemon.run(asyncio.Event()))
    await asyncio.wait_for(daemon.ready.wait(), 60)
    with redis.Redis.from_url(redis_url) as client:
        client.set(KEYS.daemon_lock("ingest"), "elsewhere:99:beef", px=10_000)  # as if ours had run out and been taken
        with pytest.raises(LeaseLostError, match="lost the ingest lease.*another daemon holds it now .host elsewhere, pid 99"):
            await asyncio.wait_for(running, 5)
        assert client.get(KEYS.daemon_lock("ingest")) == b"elsewhere:99:beef"  # never released: not ours


async def test_the_namespace_claim_leaves_the_lease_alone(redis_client):
    lease = NamespaceLease(redis_client, KEYS, "ingest", 15.0, 5.0, WallClock())
    await lease.acquire()
    # A fresh namespace holding only the lease is not "keys tradebot did not write".
    assert await claim_namespace(redis_client, KEYS, "replay", replay_here=True) == 0
    await redis_client.xadd(KEYS.stream("trade", "BTCUSDT"), {"event": b"x"})
    # A replay restart clears the old record, but not the lease it was started under.
    assert await claim_namespace(redis_client, KEYS, "replay", replay_here=True) == 2  # the stream and the marker
    assert await redis_client.get(KEYS.daemon_lock("ingest")) == lease.owner.encode()
    assert await redis_client.exists(KEYS.daemon_lock_since("ingest")) == 1
    assert await redis_client.hget(KEYS.meta(), "venue") == b"replay"


async def test_an_ingest_process_and_an_engine_process_share_a_namespace_but_two_engines_do_not(redis_url, tmp_path):
    ingest = Daemon(settings(redis_url, tmp_path / "ingest"))
    engine = Daemon(settings(redis_url, tmp_path / "engine", TRADEBOT_ENGINE__ENABLED="true", TRADEBOT_INGEST__ENABLED="false"))
    stops = [asyncio.Event(), asyncio.Event()]
    running = [asyncio.create_task(ingest.run(stops[0]))]
    try:
        await asyncio.wait_for(ingest.ready.wait(), 60)
        running.append(asyncio.create_task(engine.run(stops[1])))
        await asyncio.wait_for(engine.ready.wait(), 60)
        second_engine = Daemon(settings(redis_url, tmp_path / "second", TRADEBOT_ENGINE__ENABLED="true",
                                        TRADEBOT_INGEST__ENABLED="false"))
        with pytest.raises(NamespaceLockedError, match=f"runs the engine on Redis namespace 'tradebot': host .*pid {os.getpid()}"):
            await asyncio.wait_for(second_engine.run(asyncio.Event()), 30)
        assert not any(task.done() for task in running)
    finally:
        for stop in stops:
            stop.set()
        await asyncio.wait_for(asyncio.gather(*running), 20)
    assert ingest.exit_code == engine.exit_code == 0
