"""MarketStreamClient against the replay exchange's faults over real loopback sockets: serverShutdown,
dropped connections and backoff, fatal and retryable failures, stalled streams, malformed frames."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest
import redis.asyncio

from bot.app import Daemon
from bot.bus.redis_codec import decode_entry
from bot.clock import WallClock
from bot.config import load_settings
from bot.domain.events import EventKind
from bot.ingest.client import FatalStreamError, MarketStreamClient
from bot.ingest.metrics import IngestMetrics
from bot.sim import ReplayExchange
from bot.sim.faults import MALFORMED_KINDS
from bot.sim.timeline import Timeline, load_timeline

from helpers import free_port
from stream_client_support import (
    BOOK_TICKER, BTC_RECORDING, BTC_STREAMS, DEPTH, TRADES, Recorder, fast_settings, replay_settings,
    running_client, until,
)

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def timeline() -> Timeline:
    return load_timeline([BTC_RECORDING])


def strictly_increasing(ids: list[int]) -> bool:
    return all(earlier < later for earlier, later in zip(ids, ids[1:]))


async def test_server_shutdown_is_a_prompt_hand_over_not_an_unexpected_loss(timeline: Timeline) -> None:
    # A long backoff: had the close been taken for a loss, the new connection would come late.
    settings = fast_settings(backoff_initial_seconds=3.0, backoff_max_seconds=3.0)
    async with running_client(timeline, BTC_STREAMS, settings) as run:
        await run.until(lambda: len(run.recorder.trade_ids()) > 50, "trades")
        assert run.exchange.server_shutdown() == 1
        notified = time.monotonic()
        await run.until(lambda: run.exchange.counters.connections_accepted == 2, "a new connection", timeout=1.0)
        reopened_after = time.monotonic() - notified
        before = len(run.recorder.trade_ids())
        await run.until(lambda: len(run.recorder.trade_ids()) > before + 50, "trades on the new connection")
        counters = run.exchange.counters
        assert counters.connections_dropped_by_fault == {"server_shutdown": 1}
        assert counters.connections_closed == 1
    assert reopened_after < 0.3
    assert [event[1:] for event in run.recorder.connection_events] == [("handover", 0, "server_shutdown")]
    # The exchange closed the old connection before the new one subscribed: no overlap, so no
    # duplicates, and what happened in between is a gap for REST to fill (the Daemon test below).
    assert strictly_increasing(run.recorder.trade_ids())


async def test_server_shutdown_under_the_daemon_records_every_trade_once(timeline: Timeline, redis_url: str, tmp_path: Path) -> None:
    async with ReplayExchange(replay_settings(speed=100.0), timeline=timeline) as exchange:
        environment = {
            "TRADEBOT_DATA_DIRECTORY": str(tmp_path), "TRADEBOT_REDIS__URL": redis_url,
            "TRADEBOT_EXCHANGE__REST_BASE_URL": exchange.rest_base_url,
            "TRADEBOT_EXCHANGE__WEBSOCKET_BASE_URL": exchange.ws_base_url,
            "TRADEBOT_REPLAY_EXCHANGE__ENABLED": "false", "TRADEBOT_METRICS__ENABLED": "false",
            "TRADEBOT_ENGINE__ENABLED": "false",  # an ingest test: this timeline serves no exchangeInfo
            "TRADEBOT_SCANNER__ENABLED": "false",
        }
        metrics = IngestMetrics()
        daemon = Daemon(load_settings(ROOT / "config/tradebot.yaml", environment), metrics=metrics)
        stop = asyncio.Event()
        running = asyncio.create_task(daemon.run(stop))
        client = redis.asyncio.Redis.from_url(redis_url)
        trades_key = "tradebot:stream:trade:BTCUSDT"
        try:
            recorded = 0

            async def watch() -> None:
                nonlocal recorded
                while True:
                    recorded = await client.xlen(trades_key)
                    await asyncio.sleep(0.01)

            watcher = asyncio.create_task(watch())
            await until(lambda: recorded >= 300, "trades in Redis", 10.0, running)
            assert exchange.server_shutdown() == 1
            shutdown_at = recorded
            await until(lambda: recorded >= shutdown_at + 500, "trades after the hand-over", 10.0, running)
            watcher.cancel()
            await daemon.service.wait_idle()
        finally:
            stop.set()
            await running
        entries = await client.xrange(trades_key)
        await client.aclose()
        assert exchange.counters.connections_accepted == 2
    ids = [decode_entry(EventKind.TRADE, fields).trade_id for _, fields in entries]
    first = next(timeline.item_ids[index] for index, stream in enumerate(timeline.streams) if stream == TRADES)
    assert ids == list(range(first, first + len(ids)))  # from the first trade on, none missed, none twice
    assert metrics.value("tradebot_ingest_reconnects_total") == 0
    assert metrics.value("tradebot_ingest_connection_handovers_total", reason="server_shutdown") == 1
    assert metrics.value("tradebot_ingest_gaps_repaired_total", channel="trade") == metrics.value("tradebot_ingest_gaps_found_total", channel="trade")


async def test_dropped_connections_come_back_after_jittered_exponential_backoff(timeline: Timeline) -> None:
    seed = 8_2024
    settings = fast_settings(backoff_initial_seconds=0.1, backoff_multiplier=2.0, backoff_max_seconds=1.0)
    async with running_client(timeline, BTC_STREAMS, settings, random_source=random.Random(seed)) as run:
        recorder, exchange = run.recorder, run.exchange

        def serving_again() -> bool:
            reconnects = recorder.events("reconnect")
            return not reconnects or (bool(recorder.messages) and recorder.messages[-1][0] > reconnects[-1][0])

        for drop in range(3):  # in quick succession: each connection dies young
            await run.until(lambda: exchange.counters.connections_accepted == drop + 1 and serving_again(), "data again")
            assert exchange.drop_connections("abrupt") == 1
        await run.until(lambda: exchange.counters.connections_accepted == 4 and serving_again(), "data again")
        await run.run_for(1.1)  # longer than backoff_max: the next drop starts the count over
        exchange.drop_connections("abrupt")
        await run.until(lambda: exchange.counters.connections_accepted == 5 and serving_again(), "data again")
    reconnects = recorder.events("reconnect")
    assert len(reconnects) == 4
    draws = random.Random(seed)
    expected = [draws.uniform(0, ceiling) for ceiling in (0.1, 0.2, 0.4, 0.1)]
    waited = [recorder.first_message_after(stamp) - stamp for stamp, *_ in reconnects]
    for delay, actual in zip(expected, waited):
        assert delay <= actual <= delay + 0.08, (expected, waited)
    assert recorder.events("connect_failed") == []
    assert all(detail.startswith("connection closed unexpectedly (code 1006") for *_, detail in reconnects)


@pytest.mark.parametrize("base", ["{ws}/not-binance", "{http}"])
async def test_a_refused_handshake_or_a_bad_url_is_fatal_at_once(timeline: Timeline, base: str) -> None:
    recorder = Recorder()
    async with ReplayExchange(replay_settings(), timeline=timeline) as exchange:
        url = base.format(ws=exchange.ws_base_url, http=exchange.rest_base_url)
        client = MarketStreamClient(url, BTC_STREAMS, WallClock(), recorder, fast_settings())
        started = time.monotonic()
        with pytest.raises(FatalStreamError, match="HTTP 404" if "not-binance" in base else "bad websocket URL"):
            await asyncio.wait_for(client.run(), 2.0)
        assert time.monotonic() - started < 0.5
        assert exchange.counters.connections_accepted == 0
    assert recorder.connection_events == []  # not one retry


async def test_a_closed_port_is_retried_with_backoff_until_cancelled() -> None:
    recorder = Recorder()
    settings = fast_settings(backoff_initial_seconds=0.05, backoff_max_seconds=0.2)
    client = MarketStreamClient(f"ws://127.0.0.1:{free_port()}", BTC_STREAMS, WallClock(), recorder, settings)
    task = asyncio.create_task(client.run())
    await asyncio.sleep(1.0)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    failures = recorder.events("connect_failed")
    assert len(failures) >= 5  # about every 0.1 s on average once the ceiling is reached
    assert all("ConnectionRefusedError" in detail or "Errno 111" in detail for *_, detail in failures)
    gaps = [later[0] - earlier[0] for earlier, later in zip(failures, failures[1:])]
    assert max(gaps) <= 0.2 + 0.05  # never above the ceiling


async def test_a_stalled_stream_is_reported_stale_and_recovers_without_replacing_the_connection(timeline: Timeline) -> None:
    async with running_client(timeline, BTC_STREAMS, fast_settings(stale_after_seconds=0.3)) as run:
        recorder, exchange = run.recorder, run.exchange
        await run.until(lambda: all(recorder.per_stream[name] for name in BTC_STREAMS), "every stream")
        exchange.stall_stream(TRADES)
        await run.until(lambda: recorder.stale, "a stale report", timeout=2.0)
        assert [stream for _, stream, _ in recorder.stale] == [TRADES]
        last_trade = max(stamp for stamp, message in recorder.messages if message.stream == TRADES)
        assert 0.29 <= recorder.stale[0][0] - last_trade <= 0.3 + 0.2  # the watchdog looks every 0.075 s
        assert recorder.stale[0][2] > 0.3
        others = recorder.per_stream[BOOK_TICKER], recorder.per_stream[DEPTH]
        await run.run_for(0.3)
        assert recorder.per_stream[BOOK_TICKER] > others[0] and recorder.per_stream[DEPTH] > others[1]
        assert client_stale(run) == {TRADES}
        exchange.release_stream(TRADES)
        await run.until(lambda: recorder.events("stream_recovered"), "recovery", timeout=2.0)
        assert [event[1:] for event in recorder.connection_events] == [("stream_recovered", 0, TRADES)]
        assert exchange.counters.connections_accepted == 1 and client_stale(run) == set()


def client_stale(run) -> set[str]:  # type: ignore[no-untyped-def]
    return run.client.stale_streams()


async def test_a_connection_whose_every_stream_is_silent_is_replaced(timeline: Timeline) -> None:
    async with running_client(timeline, BTC_STREAMS, fast_settings(stale_after_seconds=0.3)) as run:
        recorder, exchange = run.recorder, run.exchange
        await run.until(lambda: all(recorder.per_stream[name] for name in BTC_STREAMS), "every stream")
        for stream in BTC_STREAMS:
            exchange.stall_stream(stream)
        await run.until(lambda: recorder.events("reconnect"), "a replacement", timeout=2.0)
        await run.until(lambda: exchange.counters.connections_accepted >= 2, "the new connection")
        await run.run_for(0.4)  # still stalled: a new connection must not look like a recovery
        assert recorder.events("stream_recovered") == []
        assert client_stale(run) == set(BTC_STREAMS)
        for stream in BTC_STREAMS:
            exchange.release_stream(stream)
        await run.until(lambda: len(recorder.events("stream_recovered")) == 3, "recovery", timeout=2.0)
        assert client_stale(run) == set()
    assert recorder.events("reconnect")[0][3] == "every stream silent for 0.3 s"


async def test_malformed_frames_and_stray_control_replies_never_stop_the_receive_loop(timeline: Timeline) -> None:
    async with running_client(timeline, BTC_STREAMS, fast_settings()) as run:
        recorder, exchange = run.recorder, run.exchange
        await run.until(lambda: len(recorder.trade_ids()) > 10, "trades")
        for kind in MALFORMED_KINDS:
            exchange.send_malformed(kind, TRADES)
        # Replies the client never asked for: an error for an unknown id, a result for a string
        # id, an error without an id.
        websocket = run.client._connections[0].websocket  # noqa: SLF001
        for request in ('{"method": "NO_SUCH_METHOD", "id": 424242}', '{"method": "LIST_SUBSCRIPTIONS", "id": "x"}', "not json"):
            await websocket.send(request)
        await run.until(lambda: len(recorder.frame_errors) == 4, "four frame errors")
        await run.until(lambda: exchange.counters.control_message_errors == 2, "two error replies")
        after = len(recorder.trade_ids())
        await run.until(lambda: len(recorder.trade_ids()) > after + 50, "trades after the bad frames")
        assert exchange.counters.malformed_frames_sent == 4
        assert exchange.counters.connections_accepted == 1
    assert sorted(error.reason for error in recorder.frame_errors) == sorted(["malformed_json", "unknown_event", "missing_field", "wrong_type"])
    assert recorder.connection_events == []
    ids = recorder.trade_ids()
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # the real frames behind the bad copies all arrived
