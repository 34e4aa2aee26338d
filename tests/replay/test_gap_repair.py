"""Gap repair end to end on real recorded data: replay exchange -> websocket -> daemon -> Redis,
with the missing stretch fetched again over the exchange's REST API.

Recordings: 12,477 XRPETH aggregate trades (2019-10-11..13, contiguous ids) and 4,319 closed ETHUSDT
1m bars (2025-09-22..25, contiguous open times), both bundled with the replay exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import gzip
import json
from bisect import bisect_left
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis.asyncio
import structlog
from aiohttp import web
from helpers import free_port

from bot.app import Daemon
from bot.bus.redis_codec import decode_entry, decode_event
from bot.config import load_settings
from bot.domain.events import EventKind, Kline
from bot.ingest.metrics import IngestMetrics
from bot.sim.exchange import ReplayExchange
from bot.sim.settings import ReplaySettings
from bot.sim.timeline import Timeline, load_timeline

ROOT = Path(__file__).parents[2]
AGG_TRADES = ROOT / "bot/sim/recordings/spot_XRPETH_aggTrades_2019-10-11_2019-10-13.csv.gz"
KLINES = ROOT / "bot/sim/recordings/spot_ETHUSDT_1m_2025-09-22_2025-09-25.csv"
AGG_STREAM = "tradebot:stream:aggTrade:XRPETH"
KLINE_STREAM = "tradebot:stream:kline_1m:ETHUSDT"
KLINE_LATEST = "tradebot:latest:kline_1m:ETHUSDT"
GAPS = "tradebot:ingest:gaps"
MINUTE_NS = 60_000_000_000
AGG_TRADE_REST = "/api/v3/aggTrades"
KLINE_REST = "/api/v3/klines"


# --- recordings, read independently of the exchange's loader ------------------------------------

@pytest.fixture(scope="module")
def agg_rows() -> list[dict[str, str]]:
    with gzip.open(AGG_TRADES, "rt") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def kline_rows() -> list[dict[str, str]]:
    with KLINES.open() as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def agg_timeline() -> Timeline:
    return load_timeline([AGG_TRADES])


@pytest.fixture(scope="module")
def kline_timeline() -> Timeline:
    return load_timeline([KLINES])


def expected_agg(row: dict[str, str]) -> tuple:
    return (
        int(row["agg_trade_id"]), row["price"], row["quantity"], int(row["first_trade_id"]),
        int(row["last_trade_id"]), int(row["transact_time"]), row["is_buyer_maker"] == "True",
    )


def expected_bar(row: dict[str, str]) -> tuple:
    return (
        int(row["open_time_ms"]), row["open"], row["high"], row["low"], row["close"], row["volume"],
        int(row["close_time_ms"]), row["quote_volume"], int(row["trades"]), row["taker_buy_base"],
        row["taker_buy_quote"], True,
    )


# --- running the daemon -------------------------------------------------------------------------

def daemon_settings(redis_url: str, rest_url: str, websocket_url: str, tmp_path: Path, symbol: str, stream: str, **extra: str):
    environment = {
        "TRADEBOT_DATA_DIRECTORY": str(tmp_path),
        "TRADEBOT_REDIS__URL": redis_url,
        "TRADEBOT_EXCHANGE__REST_BASE_URL": rest_url,
        "TRADEBOT_EXCHANGE__WEBSOCKET_BASE_URL": websocket_url,
        "TRADEBOT_REPLAY_EXCHANGE__ENABLED": "false",
        "TRADEBOT_METRICS__ENABLED": "false",
        "TRADEBOT_ENGINE__ENABLED": "false",  # ingest is under test; the engine has its own tests
        "TRADEBOT_SCANNER__ENABLED": "false",
        "TRADEBOT_INGEST__SYMBOLS": json.dumps([symbol]),
        "TRADEBOT_INGEST__STREAMS": json.dumps([stream]),
        "TRADEBOT_INGEST__BACKOFF_INITIAL_SECONDS": "0.01",
        "TRADEBOT_INGEST__BACKOFF_MAX_SECONDS": "0.05",
        **extra,
    }
    return load_settings(ROOT / "config/tradebot.yaml", environment)


def repair_tasks() -> list[asyncio.Task]:
    return [task for task in asyncio.all_tasks() if task.get_name().startswith("repair-") and not task.done()]


@contextlib.asynccontextmanager
async def running_daemon(settings) -> AsyncIterator[tuple[Daemon, Callable[[], None]]]:
    """Runs a Daemon; yields it and a check that it has not crashed. On exit it is stopped, and
    must leave no gap repair running behind it."""
    daemon = Daemon(settings, metrics=IngestMetrics())
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(stop))

    def alive() -> None:
        assert not running.done(), running.exception()

    try:
        async with asyncio.timeout(60):
            await daemon.ready.wait()
        yield daemon, alive
    finally:
        stop.set()
        await running
    await asyncio.sleep(0)
    assert repair_tasks() == []


async def last_sequence(client: redis.asyncio.Redis, stream: str) -> int | None:
    """The sequence part of a stream's last entry id (aggregate trade id), or its ms part for klines."""
    last = await client.xrevrange(stream, count=1)
    if not last:
        return None
    milliseconds, _, sequence = last[0][0].decode().partition("-")
    return int(milliseconds) if stream == KLINE_STREAM else int(sequence)


async def until(condition: Callable[[], object], alive: Callable[[], None], seconds: float = 60) -> None:
    async with asyncio.timeout(seconds):
        while True:
            alive()
            if await condition():  # type: ignore[misc]
                return
            await asyncio.sleep(0.01)


async def ingest_to_the_end(daemon: Daemon, alive, exchange: ReplayExchange, client, stream: str, last: int) -> None:
    """Until the recording's last record is in Redis, the exchange has sent everything, and no
    repair is pending."""
    async def at_end() -> bool:
        return await last_sequence(client, stream) == last

    await until(at_end, alive)
    await exchange.wait_finished()
    await daemon.service.wait_idle()


async def stored_agg_trades(client: redis.asyncio.Redis) -> list[tuple]:
    entries = await client.xrange(AGG_STREAM)
    trades = [decode_entry(EventKind.AGG_TRADE, fields) for _, fields in entries]
    return [
        (t.agg_trade_id, str(t.price), str(t.quantity), t.first_trade_id, t.last_trade_id, t.ts_trade // 1_000_000, t.buyer_is_maker)
        for t in trades
    ]


async def stored_bars(client: redis.asyncio.Redis) -> list[tuple]:
    entries = await client.xrange(KLINE_STREAM)
    bars: list[Kline] = [decode_entry(EventKind.KLINE, fields) for _, fields in entries]  # type: ignore[misc]
    return [
        (b.open_time // 1_000_000, str(b.open), str(b.high), str(b.low), str(b.close), str(b.volume),
         b.close_time // 1_000_000, str(b.quote_volume), b.trade_count, str(b.taker_buy_base_volume),
         str(b.taker_buy_quote_volume), b.is_closed)
        for b in bars
    ]


async def gap_audit(client: redis.asyncio.Redis) -> list[dict]:
    return [json.loads(fields[b"event"]) for _, fields in await client.xrange(GAPS)]


def check_audit_entry(entry: dict, symbol: str, channel: str, first: int, last: int, state: str) -> None:
    assert {key: entry[key] for key in ("symbol", "channel", "first", "last", "state")} == {
        "symbol": symbol, "channel": channel, "first": first, "last": last, "state": state,
    }
    assert isinstance(entry["ts"], int) and entry["ts"] > 1_600_000_000_000_000_000  # ns, wall clock


def outage_end_position(exchange: ReplayExchange, outage_ns: int) -> int:
    times = exchange.timeline.times_ns
    return bisect_left(times, times[exchange.position] + outage_ns)


@pytest.fixture
async def redis_reader(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


# --- aggregate trades ---------------------------------------------------------------------------

async def test_an_aggregate_trade_id_gap_is_fetched_over_rest_and_the_record_is_exact(
    redis_url, redis_reader, tmp_path, agg_timeline, agg_rows
):
    first, last = int(agg_rows[5_000]["agg_trade_id"]), int(agg_rows[6_499]["agg_trade_id"])  # 1,500 ids, two pages
    async with ReplayExchange(ReplaySettings(recordings=(AGG_TRADES,), speed=None), timeline=agg_timeline) as exchange:
        exchange.skip_ids("xrpeth@aggTrade", first, last)
        settings = daemon_settings(redis_url, exchange.rest_base_url, exchange.ws_base_url, tmp_path, "XRPETH", "aggTrade")
        async with running_daemon(settings) as (daemon, alive):
            await ingest_to_the_end(daemon, alive, exchange, redis_reader, AGG_STREAM, int(agg_rows[-1]["agg_trade_id"]))
        assert exchange.counters.frames_withheld_by_fault["xrpeth@aggTrade"] == 1_500
        assert exchange.counters.rest_requests_by_path[AGG_TRADE_REST] == 2

    assert await stored_agg_trades(redis_reader) == [expected_agg(row) for row in agg_rows]  # once each, in order
    assert len(agg_rows) == 12_477
    metrics = daemon.metrics
    assert metrics.value("tradebot_ingest_gaps_found_total", channel="aggTrade") == 1
    assert metrics.value("tradebot_ingest_gaps_repaired_total", channel="aggTrade") == 1
    assert metrics.value("tradebot_ingest_gaps_unrepaired_total", channel="aggTrade") == 0
    assert metrics.value("tradebot_ingest_backfilled_events_total", channel="aggTrade") == last - first + 1
    found, repaired = await gap_audit(redis_reader)
    check_audit_entry(found, "XRPETH", "aggTrade", first, last, "found")
    check_audit_entry(repaired, "XRPETH", "aggTrade", first, last, "repaired")
    assert repaired["events"] == 1_500 and repaired["ts"] >= found["ts"]


async def test_a_gap_over_backfill_max_records_is_not_fetched_but_audited_and_ingest_goes_on(
    redis_url, redis_reader, tmp_path, agg_timeline, agg_rows
):
    first, last = int(agg_rows[3_000]["agg_trade_id"]), int(agg_rows[3_600]["agg_trade_id"])  # 601 ids
    async with ReplayExchange(ReplaySettings(recordings=(AGG_TRADES,), speed=None), timeline=agg_timeline) as exchange:
        exchange.skip_ids("xrpeth@aggTrade", first, last)
        settings = daemon_settings(
            redis_url, exchange.rest_base_url, exchange.ws_base_url, tmp_path, "XRPETH", "aggTrade",
            TRADEBOT_INGEST__BACKFILL_MAX_RECORDS="600",
        )
        with structlog.testing.capture_logs() as logs:
            async with running_daemon(settings) as (daemon, alive):
                await ingest_to_the_end(daemon, alive, exchange, redis_reader, AGG_STREAM, int(agg_rows[-1]["agg_trade_id"]))
        # Not fetched: the one request is the check that the exchange really has trades that far.
        assert exchange.counters.rest_requests_by_path[AGG_TRADE_REST] == 1

    # Everything before and after the hole, once each and in order; nothing of the hole.
    assert await stored_agg_trades(redis_reader) == [expected_agg(row) for row in agg_rows[:3_000] + agg_rows[3_601:]]
    metrics = daemon.metrics
    assert metrics.value("tradebot_ingest_gaps_found_total", channel="aggTrade") == 1
    assert metrics.value("tradebot_ingest_gaps_unrepaired_total", channel="aggTrade") == 1
    assert metrics.value("tradebot_ingest_gaps_repaired_total", channel="aggTrade") == 0
    assert metrics.value("tradebot_ingest_backfilled_events_total", channel="aggTrade") == 0
    found, unrepaired = await gap_audit(redis_reader)
    check_audit_entry(found, "XRPETH", "aggTrade", first, last, "found")
    check_audit_entry(unrepaired, "XRPETH", "aggTrade", first, last, "unrepaired")
    assert "601 records" in unrepaired["error"] and "backfill_max_records=600" in unrepaired["error"]
    errors = [entry for entry in logs if entry["log_level"] == "error"]
    assert len(errors) == 1
    assert (errors[0]["symbol"], errors[0]["channel"], errors[0]["first"], errors[0]["last"]) == ("XRPETH", "aggTrade", first, last)
    assert "hole" in errors[0]["event"]


async def test_a_malformed_rest_answer_leaves_an_audited_hole_instead_of_a_retry_storm(
    redis_url, redis_reader, tmp_path, agg_timeline, agg_rows
):
    """A REST answer that does not parse is a failed repair like any other: counted, audited,
    and ingest goes on. It must not be fetched again and again."""
    requests = 0

    async def broken_agg_trades(request: web.Request) -> web.Response:
        nonlocal requests
        requests += 1
        return web.json_response([{"a": int(request.query["fromId"]), "p": "0.00141342"}], headers={"X-MBX-USED-WEIGHT-1M": str(4 * requests)})

    app = web.Application()
    app.router.add_get(AGG_TRADE_REST, broken_agg_trades)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    rest_url = f"http://127.0.0.1:{port}"
    first, last = int(agg_rows[2_000]["agg_trade_id"]), int(agg_rows[2_009]["agg_trade_id"])
    try:
        async with ReplayExchange(ReplaySettings(recordings=(AGG_TRADES,), speed=None), timeline=agg_timeline) as exchange:
            exchange.skip_ids("xrpeth@aggTrade", first, last)
            settings = daemon_settings(redis_url, rest_url, exchange.ws_base_url, tmp_path, "XRPETH", "aggTrade")
            async with running_daemon(settings) as (daemon, alive):
                await ingest_to_the_end(daemon, alive, exchange, redis_reader, AGG_STREAM, int(agg_rows[-1]["agg_trade_id"]))
    finally:
        await runner.cleanup()

    assert requests == 1
    assert await stored_agg_trades(redis_reader) == [expected_agg(row) for row in agg_rows[:2_000] + agg_rows[2_010:]]
    assert daemon.metrics.value("tradebot_ingest_gaps_unrepaired_total", channel="aggTrade") == 1
    found, unrepaired = await gap_audit(redis_reader)
    check_audit_entry(unrepaired, "XRPETH", "aggTrade", first, last, "unrepaired")
    assert "malformed" in unrepaired["error"]


async def test_a_restart_resumes_after_the_record_and_backfills_what_happened_meanwhile(
    redis_url, redis_reader, tmp_path, agg_timeline, agg_rows
):
    outage_ns = 120 * MINUTE_NS  # the exchange trades on for two hours of its timeline while we are down
    async with ReplayExchange(ReplaySettings(recordings=(AGG_TRADES,), speed=None), timeline=agg_timeline) as exchange:
        settings = daemon_settings(redis_url, exchange.rest_base_url, exchange.ws_base_url, tmp_path, "XRPETH", "aggTrade")
        async with running_daemon(settings) as (first_daemon, alive):
            async def some_stored() -> bool:
                return await redis_reader.xlen(AGG_STREAM) >= 3_000

            await until(some_stored, alive)
        stored_before = await last_sequence(redis_reader, AGG_STREAM)
        assert stored_before is not None and stored_before < int(agg_rows[-1]["agg_trade_id"]) - 2_000
        assert first_daemon.metrics.value("tradebot_ingest_gaps_found_total", channel="aggTrade") == 0

        # Once the exchange has let go of the first daemon's connection its cursor waits (max
        # speed); then it runs on alone through the outage and stops at its end.
        async with asyncio.timeout(10):
            while exchange.status()["connections"]:
                await asyncio.sleep(0.005)
        target = outage_end_position(exchange, outage_ns)
        exchange.advance_unattended(outage_ns)
        async with asyncio.timeout(10):
            while exchange.position < target:
                await asyncio.sleep(0.005)

        async with running_daemon(settings) as (second_daemon, alive):
            await ingest_to_the_end(second_daemon, alive, exchange, redis_reader, AGG_STREAM, int(agg_rows[-1]["agg_trade_id"]))

    assert await stored_agg_trades(redis_reader) == [expected_agg(row) for row in agg_rows]
    metrics = second_daemon.metrics
    assert metrics.value("tradebot_ingest_gaps_found_total", channel="aggTrade") == 1
    assert metrics.value("tradebot_ingest_gaps_repaired_total", channel="aggTrade") == 1
    audit = await gap_audit(redis_reader)
    assert [entry["state"] for entry in audit] == ["found", "repaired"]
    gap_first, gap_last = audit[0]["first"], audit[0]["last"]
    # From after the record's end to the last trade before the exchange's "now" when we came back:
    # what the first daemon had in flight when it stopped, then the whole outage.
    assert gap_first == stored_before + 1
    assert gap_last == int(agg_rows[target - 1]["agg_trade_id"])
    assert gap_last - gap_first + 1 > 100
    assert audit[1]["events"] == gap_last - gap_first + 1
    assert metrics.value("tradebot_ingest_backfilled_events_total", channel="aggTrade") == gap_last - gap_first + 1


async def test_stopping_during_a_repair_keeps_the_record_before_the_gap_for_the_restart(
    redis_url, redis_reader, tmp_path, agg_timeline, agg_rows
):
    """A daemon stopped while its REST backfill hangs must not write what queued behind the gap
    (the record would then hide the hole from the next start) and must leave no repair running."""
    hanging: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hanging.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await reader.read()

    silent_rest = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    silent_url = f"http://127.0.0.1:{silent_rest.sockets[0].getsockname()[1]}"
    first, last = int(agg_rows[4_000]["agg_trade_id"]), int(agg_rows[4_099]["agg_trade_id"])
    try:
        async with ReplayExchange(ReplaySettings(recordings=(AGG_TRADES,), speed=None), timeline=agg_timeline) as exchange:
            exchange.skip_ids("xrpeth@aggTrade", first, last)
            settings = daemon_settings(redis_url, silent_url, exchange.ws_base_url, tmp_path, "XRPETH", "aggTrade")
            async with running_daemon(settings) as (daemon, alive):
                async def repair_waiting() -> bool:
                    return bool(await redis_reader.xlen(GAPS)) and exchange.finished and await last_sequence(redis_reader, AGG_STREAM) == first - 1

                await until(repair_waiting, alive)
                await asyncio.sleep(0.1)
                assert len(repair_tasks()) == 1
    finally:
        for writer in hanging:
            writer.close()
        silent_rest.close()
        await silent_rest.wait_closed()

    assert await last_sequence(redis_reader, AGG_STREAM) == first - 1
    assert [entry["state"] for entry in await gap_audit(redis_reader)] == ["found"]
    assert daemon.metrics.value("tradebot_ingest_gaps_unrepaired_total", channel="aggTrade") == 0

    # The next start replays the exchange from the start: the record's part is dropped as
    # duplicate, the same hole is found again and this time fetched.
    async with ReplayExchange(ReplaySettings(recordings=(AGG_TRADES,), speed=None), timeline=agg_timeline) as exchange:
        exchange.skip_ids("xrpeth@aggTrade", first, last)
        settings = daemon_settings(redis_url, exchange.rest_base_url, exchange.ws_base_url, tmp_path, "XRPETH", "aggTrade")
        async with running_daemon(settings) as (daemon, alive):
            await ingest_to_the_end(daemon, alive, exchange, redis_reader, AGG_STREAM, int(agg_rows[-1]["agg_trade_id"]))
    assert await stored_agg_trades(redis_reader) == [expected_agg(row) for row in agg_rows]
    assert daemon.metrics.value("tradebot_ingest_gaps_repaired_total", channel="aggTrade") == 1
    assert daemon.metrics.value("tradebot_ingest_backfilled_events_total", channel="aggTrade") == last - first + 1
    assert daemon.metrics.value("tradebot_ingest_duplicates_total", kind="aggTrade") == 4_000


# --- klines -------------------------------------------------------------------------------------

async def test_klines_lost_in_outages_are_fetched_over_rest_and_only_closed_bars_are_recorded(
    redis_url, redis_reader, tmp_path, kline_timeline, kline_rows
):
    async with ReplayExchange(ReplaySettings(recordings=(KLINES,), speed=None), timeline=kline_timeline) as exchange:
        # Two drops, each followed by 20 minutes of market the websocket never sees (2 frames a bar).
        exchange.drop_after_frames(3_000, mode="abrupt", outage_ns=20 * MINUTE_NS, times=2)
        settings = daemon_settings(redis_url, exchange.rest_base_url, exchange.ws_base_url, tmp_path, "ETHUSDT", "kline_1m")
        async with running_daemon(settings) as (daemon, alive):
            await ingest_to_the_end(daemon, alive, exchange, redis_reader, KLINE_STREAM, int(kline_rows[-1]["open_time_ms"]))
        assert exchange.counters.connections_dropped_by_fault["abrupt"] == 2
        assert exchange.counters.rest_requests_by_path[KLINE_REST] >= 2

    assert len(kline_rows) == 4_319
    assert await stored_bars(redis_reader) == [expected_bar(row) for row in kline_rows]  # once each, exact
    metrics = daemon.metrics
    assert metrics.value("tradebot_ingest_reconnects_total") == 2
    assert metrics.value("tradebot_ingest_gaps_found_total", channel="kline_1m") == 2
    assert metrics.value("tradebot_ingest_gaps_repaired_total", channel="kline_1m") == 2
    assert metrics.value("tradebot_ingest_gaps_unrepaired_total", channel="kline_1m") == 0
    audit = await gap_audit(redis_reader)
    assert [entry["state"] for entry in audit] == ["found", "repaired", "found", "repaired"]
    backfilled = 0
    for found, repaired in (audit[0:2], audit[2:4]):
        size = (found["last"] - found["first"]) // MINUTE_NS + 1
        assert size >= 19  # the outage's 20 minutes, less a bar that may straddle its start
        check_audit_entry(found, "ETHUSDT", "kline_1m", found["first"], found["last"], "found")
        check_audit_entry(repaired, "ETHUSDT", "kline_1m", found["first"], found["last"], "repaired")
        assert found["first"] % MINUTE_NS == 0 and repaired["events"] == size
        backfilled += size
    assert metrics.value("tradebot_ingest_backfilled_events_total", channel="kline_1m") == backfilled
    # Both updates of every bar the websocket delivered arrived; only the closed ones are history.
    # An outage can also split a bar's two updates: x=false delivered and its close lost (then
    # fetched), or the other way round; at most one of each per outage.
    delivered = 2 * (4_319 - backfilled)
    assert delivered - 2 <= metrics.value("tradebot_ingest_messages_total", kind="kline") <= delivered + 2
    latest = decode_event(EventKind.KLINE, await redis_reader.hget(KLINE_LATEST, "event"))
    assert latest.is_closed and latest.open_time // 1_000_000 == int(kline_rows[-1]["open_time_ms"])


async def test_a_kline_gap_over_backfill_max_records_bars_is_not_fetched(
    redis_url, redis_reader, tmp_path, kline_timeline, kline_rows
):
    async with ReplayExchange(ReplaySettings(recordings=(KLINES,), speed=None), timeline=kline_timeline) as exchange:
        exchange.drop_after_frames(2_000, mode="abrupt", outage_ns=30 * MINUTE_NS)
        settings = daemon_settings(
            redis_url, exchange.rest_base_url, exchange.ws_base_url, tmp_path, "ETHUSDT", "kline_1m",
            TRADEBOT_INGEST__BACKFILL_MAX_RECORDS="10",
        )
        async with running_daemon(settings) as (daemon, alive):
            await ingest_to_the_end(daemon, alive, exchange, redis_reader, KLINE_STREAM, int(kline_rows[-1]["open_time_ms"]))
        assert exchange.counters.rest_requests_by_path[KLINE_REST] == 0

    found, unrepaired = await gap_audit(redis_reader)
    check_audit_entry(unrepaired, "ETHUSDT", "kline_1m", found["first"], found["last"], "unrepaired")
    missing = (found["last"] - found["first"]) // MINUTE_NS + 1
    assert missing >= 29 and f"{missing} records" in unrepaired["error"]
    hole = {found["first"] // 1_000_000 + index * 60_000 for index in range(missing)}
    assert await stored_bars(redis_reader) == [expected_bar(row) for row in kline_rows if int(row["open_time_ms"]) not in hole]
    assert daemon.metrics.value("tradebot_ingest_gaps_unrepaired_total", channel="kline_1m") == 1


async def test_a_forming_bar_is_latest_state_only_never_history(redis_url, redis_reader, tmp_path, kline_timeline, kline_rows):
    """Paced so slowly that the first bar's x=false update (at its close time) and its closed
    kline (1 ms later) arrive a second apart: in between, the bar is in the latest hash only."""
    async with ReplayExchange(ReplaySettings(recordings=(KLINES,), speed=0.001), timeline=kline_timeline) as exchange:
        settings = daemon_settings(redis_url, exchange.rest_base_url, exchange.ws_base_url, tmp_path, "ETHUSDT", "kline_1m")
        async with running_daemon(settings) as (daemon, alive):
            async def latest_written() -> bool:
                return bool(await redis_reader.hexists(KLINE_LATEST, "event"))

            await until(latest_written, alive, seconds=10)
            forming = decode_event(EventKind.KLINE, await redis_reader.hget(KLINE_LATEST, "event"))
            assert await redis_reader.xlen(KLINE_STREAM) == 0
            assert not forming.is_closed and forming.open_time // 1_000_000 == int(kline_rows[0]["open_time_ms"])

            async def closed_recorded() -> bool:
                return await redis_reader.xlen(KLINE_STREAM) == 1

            await until(closed_recorded, alive, seconds=10)
            await daemon.service.wait_idle()
            closed = decode_event(EventKind.KLINE, await redis_reader.hget(KLINE_LATEST, "event"))
    assert closed.is_closed and closed.open_time == forming.open_time
    assert await stored_bars(redis_reader) == [expected_bar(kline_rows[0])]
    assert daemon.metrics.value("tradebot_ingest_messages_total", kind="kline") == 2
