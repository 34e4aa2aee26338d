"""/readyz: ready only when Redis answers, the market streams are fresh and connected and the
models an ml_signal strategy needs are loaded; every failed check is named, and the endpoint
keeps answering (health and readiness both) while Redis is down."""

from __future__ import annotations

import asyncio

import redis.asyncio
from http_support import KEYS, TOKEN, bearer, daemon_settings, get
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from bot.app import Daemon
from bot.bus.redis_server import EmbeddedRedis
from bot.clock import WallClock
from bot.http.queries import TradingQueries
from bot.http.readiness import models_check, redis_check, run_checks, streams_check
from bot.http.server import HttpServer
from bot.ingest.client import MarketStreamClient


async def test_redis_stopped_makes_the_daemon_not_ready_naming_redis_and_the_server_keeps_answering(tmp_path):
    with EmbeddedRedis(tmp_path / "redis") as server:
        client = redis.asyncio.Redis.from_url(server.url, socket_connect_timeout=1, socket_timeout=1)
        http = HttpServer(CollectorRegistry(), "127.0.0.1", 0, readiness_checks={"redis": redis_check(client)},
                          queries=TradingQueries(client, KEYS), api_token=SecretStr(TOKEN))
        await http.start()
        try:
            status, _, body = await get(f"{http.url}/readyz")
            assert (status, body) == (200, {"ready": True, "checks": {"redis": {"ok": True, "detail": "ok"}}})
            server.stop()
            status, _, body = await get(f"{http.url}/readyz")
            assert status == 503 and body["ready"] is False
            assert body["checks"]["redis"]["ok"] is False and "Connection" in body["checks"]["redis"]["detail"]
            assert (await get(f"{http.url}/healthz"))[:1] == (200,)  # alive, just not ready
            status, _, body = await get(f"{http.url}/api/v1/status", bearer())
            assert status == 503 and body["error"] == "redis_unavailable"
            assert (await get(f"{http.url}/readyz"))[0] == 503  # and it still answers after that
        finally:
            await http.stop()
            await client.aclose()


async def test_a_check_that_hangs_or_raises_fails_by_name_within_its_time_limit():
    async def hangs() -> None:
        await asyncio.Event().wait()

    async def raises() -> None:
        raise RuntimeError("disk on fire")

    async def passes() -> None:
        return None

    started = asyncio.get_running_loop().time()
    checks = await run_checks({"hangs": hangs, "raises": raises, "passes": passes}, timeout_seconds=0.2)
    assert asyncio.get_running_loop().time() - started < 1.0
    assert checks == {
        "hangs": {"ok": False, "detail": "no answer within 0.2 s"},
        "passes": {"ok": True, "detail": "ok"},
        "raises": {"ok": False, "detail": "RuntimeError: disk on fire"},
    }


async def test_streams_and_models_checks_name_what_is_missing():
    # A real stream client that has not connected yet: every shard is disconnected.
    client = MarketStreamClient("ws://127.0.0.1:9", ["btcusdt@trade", "ethusdt@trade"], WallClock(), events=None)
    assert client.disconnected_shards() == [0] and client.stale_streams() == set()
    assert await streams_check(lambda: client)() == "no open connection for shard(s) 0"
    assert await streams_check(lambda: None)() == "ingest not started"
    loaded = {"signal": None}
    check = models_check(["signal"], lambda: loaded)
    assert await check() == "no model loaded for signal"
    loaded["signal"] = "20250924T020000Z"
    assert await check() is None


async def test_the_running_daemon_is_ready_and_serves_the_api_with_its_token(redis_url, tmp_path):
    """The daemon's own wiring: the shipped settings at 20x replay speed, the API on the metrics port."""
    daemon = Daemon(daemon_settings(redis_url, tmp_path, TRADEBOT_REPLAY_EXCHANGE__SPEED="20"))
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(stop))
    try:
        await asyncio.wait_for(daemon.ready.wait(), 60)
        assert daemon.http is not None
        async with asyncio.timeout(20):  # the stream connection opens just after start-up
            while (answer := await get(f"{daemon.http.url}/readyz"))[0] != 200:
                await asyncio.sleep(0.05)
        status, _, body = answer
        assert sorted(body["checks"]) == ["daemon", "redis", "streams"] and body["ready"] is True
        async with asyncio.timeout(20):
            while not (await get(f"{daemon.http.url}/api/v1/status", bearer()))[2]["committed"]:
                await asyncio.sleep(0.05)
        status, _, body = await get(f"{daemon.http.url}/api/v1/status", bearer())
        assert status == 200 and body["trading_state"] == "ACTIVE"
        assert (await get(f"{daemon.http.url}/api/v1/status"))[0] == 401
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
