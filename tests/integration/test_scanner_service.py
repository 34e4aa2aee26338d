"""The scanner service against the replay exchange (serving the real all-symbols 24 h ticker
answer of 2020-09-29) and a real Redis: what lands in Redis, and what a failed refresh leaves."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import random
from collections.abc import AsyncIterator
from decimal import Decimal

import redis.asyncio

from bot.backoff import Backoff
from bot.bus.redis_keys import RedisKeys
from bot.clock import ManualClock
from bot.ingest.rest import RestGateway
from bot.scanner import ScannerSettings
from bot.scanner.encoding import symbol_scan_from_fields
from bot.scanner.service import ScannerService
from bot.sim import RECORDINGS_DIRECTORY, ReplayExchange, ReplaySettings

TICKERS = RECORDINGS_DIRECTORY / "spot_ticker_24hr_all_symbols_2020-09-29.json.gz"
NOW_NS = 1_700_000_040_000_000_000
NAMESPACE = "scantest"


def recorded_usdt_rows() -> list[dict]:
    rows = json.loads(gzip.decompress(TICKERS.read_bytes()))
    return [row for row in rows if row["symbol"].endswith("USDT")]


async def no_wait(seconds: float) -> None:
    return None


@contextlib.asynccontextmanager
async def scanner(
    redis_client: redis.asyncio.Redis, clock: ManualClock, **service_options: object
) -> AsyncIterator[tuple[ReplayExchange, ScannerService]]:
    settings = ReplaySettings(recordings=(TICKERS,), ping_interval_s=None)
    async with ReplayExchange(settings, clock=clock) as exchange:
        async with RestGateway(exchange.rest_base_url, clock, timeout_seconds=2.0, max_attempts=2, sleep=no_wait) as gateway:
            service = ScannerService(gateway, redis_client, NAMESPACE, ScannerSettings(), clock, **service_options)  # type: ignore[arg-type]
            yield exchange, service


async def snapshot(client: redis.asyncio.Redis) -> dict[bytes, object]:
    """Every scanner key and its whole value, to compare Redis before and after."""
    dump: dict[bytes, object] = {}
    async for key in client.scan_iter(match=f"{NAMESPACE}:scanner:*"):
        kind = (await client.type(key)).decode()
        if kind == "hash":
            dump[key] = await client.hgetall(key)
        elif kind == "list":
            dump[key] = await client.lrange(key, 0, -1)
        elif kind == "zset":
            dump[key] = await client.zrange(key, 0, -1, withscores=True)
    return dump


async def test_a_refresh_writes_every_usdt_pair_the_summary_and_the_pair_list(redis_client: redis.asyncio.Redis) -> None:
    keys = RedisKeys(NAMESPACE)
    # A pair from an earlier scan that has since left the market must not linger.
    await redis_client.hset(keys.scanner_symbol("GONEUSDT"), mapping={"symbol": "GONEUSDT"})
    await redis_client.zadd(keys.scanner_index(), {"GONEUSDT": 1.0})
    rows = recorded_usdt_rows()
    async with scanner(redis_client, ManualClock(NOW_NS)) as (exchange, service):
        assert await service.refresh_once() is True
        assert exchange.counters.rest_requests_by_path == {"/api/v3/ticker/24hr": 1}

    summary = {key.decode(): value.decode() for key, value in (await redis_client.hgetall(keys.scanner_summary())).items()}
    assert int(summary["pairs_scanned"]) == len(rows) == 205
    assert Decimal(summary["total_quote_volume"]) == sum((Decimal(row["quoteVolume"]) for row in rows), Decimal(0))
    assert summary["ts_scan"] == str(NOW_NS)
    assert summary["ts_event"] == str(max(row["closeTime"] for row in rows) * 1_000_000)
    best = max(rows, key=lambda row: Decimal(row["priceChangePercent"]))
    assert json.loads(summary["gainers"])[0] == best["symbol"] == "FLMUSDT"
    assert json.loads(summary["rows_rejected"]) == {}

    assert not await redis_client.exists(keys.scanner_symbol("GONEUSDT"))
    index = [member.decode() for member in await redis_client.zrange(keys.scanner_index(), 0, -1)]
    assert sorted(index) == sorted(row["symbol"] for row in rows)
    btc_row = next(row for row in rows if row["symbol"] == "BTCUSDT")
    btc = symbol_scan_from_fields(await redis_client.hgetall(keys.scanner_symbol("BTCUSDT")))
    assert (str(btc.last_price), str(btc.quote_volume), btc.trade_count) == (btc_row["lastPrice"], btc_row["quoteVolume"], btc_row["count"])
    assert btc == service.latest.by_symbol()["BTCUSDT"]

    pairs = [member.decode() for member in await redis_client.lrange(keys.scanner_pairs(), 0, -1)]
    assert pairs == service.pairs and pairs[0] == "BTCUSDT" and len(pairs) == 30
    status = await redis_client.hgetall(keys.scanner_status())
    assert status[b"refreshes"] == b"1" and status[b"failures"] == b"0" and status[b"last_success_ns"] == str(NOW_NS).encode()


async def test_a_failed_refresh_keeps_the_previous_scan_and_counts_the_failure(redis_client: redis.asyncio.Redis) -> None:
    keys = RedisKeys(NAMESPACE)
    clock = ManualClock(NOW_NS)
    async with scanner(redis_client, clock) as (exchange, service):
        assert await service.refresh_once() is True
        before = await snapshot(redis_client)
        await exchange.stop()  # the exchange goes away: connection refused, retried, given up
        clock.advance(60_000_000_000)
        assert await service.refresh_once() is False
    after = await snapshot(redis_client)
    status_key = keys.scanner_status().encode()
    before_status, after_status = before.pop(status_key), after.pop(status_key)
    assert after == before and len(after) == 205 + 3  # every symbol hash, index, summary, pairs
    assert after_status[b"failures"] == b"1" and after_status[b"consecutive_failures"] == b"1"
    assert after_status[b"last_success_ns"] == before_status[b"last_success_ns"] == str(NOW_NS).encode()
    assert after_status[b"last_attempt_ns"] == str(NOW_NS + 60_000_000_000).encode()
    assert b"RestError" in after_status[b"last_error"]
    assert service.counters.failures == 1 and service.counters.refreshes == 1
    assert service.latest is not None and service.latest.totals.pairs_scanned == 205


async def test_the_loop_refreshes_on_the_interval_and_backs_off_after_failures(redis_client: redis.asyncio.Redis) -> None:
    delays: list[float] = []
    clock = ManualClock(NOW_NS)
    backoff = Backoff(initial_seconds=60.0, maximum_seconds=600.0, random_source=random.Random(7))
    async with scanner(redis_client, clock, backoff=backoff) as (exchange, service):

        async def sleep(seconds: float) -> None:
            delays.append(seconds)
            if len(delays) == 1:
                await exchange.stop()
            if len(delays) == 4:
                raise asyncio.CancelledError

        service._sleep = sleep
        try:
            await service.run()
        except asyncio.CancelledError:
            pass
    expected = Backoff(initial_seconds=60.0, maximum_seconds=600.0, random_source=random.Random(7))
    assert delays[0] == 60.0
    assert delays[1:] == [max(60.0, expected.delay(attempt)) for attempt in (1, 2, 3)]
    assert all(delay >= 60.0 for delay in delays)
    assert (service.counters.refreshes, service.counters.failures, service.counters.consecutive_failures) == (1, 3, 3)
