"""End to end on real recorded data: replay exchange -> websocket -> daemon -> Redis.

The recording is the bundled BTCUSDT capture (2024-08-08 23:54 - 00:05 UTC): 19,904 trades with
contiguous ids, 73,174 bookTickers, 6,495 depth diffs and the REST snapshot the recorder took.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import pytest
import redis.asyncio

from bot.app import Daemon
from bot.bus.redis_codec import decode_entry
from bot.config import load_settings
from bot.domain.events import EventKind
from bot.domain.orderbook import OrderBook
from bot.ingest.metrics import IngestMetrics
from bot.sim.exchange import ReplayExchange
from bot.sim.settings import ReplaySettings
from bot.sim.timeline import load_timeline

ROOT = Path(__file__).parents[2]
RECORDING = ROOT / "bot/sim/recordings/spot_BTCUSDT_depth100ms-bookTicker-trade_2024-08-08T2354_2024-08-09T0005.jsonl.gz"
TRADE_STREAM = "tradebot:stream:trade:BTCUSDT"
BOOK_TICKER_STREAM = "tradebot:stream:bookTicker:BTCUSDT"


def recorded(kind: str) -> list[dict]:
    with gzip.open(RECORDING, "rb") as lines:
        payloads = [json.loads(line)["msg"] for line in lines]
    if kind == "trade":
        return [message["data"] for message in payloads if message.get("stream") == "btcusdt@trade"]
    return [message["data"] for message in payloads if message.get("stream") == "btcusdt@bookTicker"]


@pytest.fixture(scope="module")
def expected_trades() -> list[tuple[int, str, str]]:
    return [(trade["t"], trade["p"], trade["q"]) for trade in recorded("trade")]


@pytest.fixture(scope="module")
def timeline():
    return load_timeline([RECORDING])


def daemon_settings(redis_url: str, exchange: ReplayExchange, tmp_path: Path):
    environment = {
        "TRADEBOT_DATA_DIRECTORY": str(tmp_path),
        "TRADEBOT_REDIS__URL": redis_url,
        "TRADEBOT_EXCHANGE__REST_BASE_URL": exchange.rest_base_url,
        "TRADEBOT_EXCHANGE__WEBSOCKET_BASE_URL": exchange.ws_base_url,
        "TRADEBOT_REPLAY_EXCHANGE__ENABLED": "false",
        "TRADEBOT_METRICS__ENABLED": "false",
        "TRADEBOT_ENGINE__ENABLED": "false",  # ingest is under test; the engine has its own tests
        "TRADEBOT_SCANNER__ENABLED": "false",
        "TRADEBOT_INGEST__BACKOFF_INITIAL_SECONDS": "0.01",
        "TRADEBOT_INGEST__BACKOFF_MAX_SECONDS": "0.05",
    }
    return load_settings(ROOT / "config/tradebot.yaml", environment)


async def ingest(redis_url, exchange, tmp_path, expected_trades, book_listener=None) -> IngestMetrics:
    """Runs the daemon until the last recorded trade is in Redis and all repairs are done."""
    metrics = IngestMetrics()
    daemon = Daemon(daemon_settings(redis_url, exchange, tmp_path), metrics=metrics, book_listener=book_listener)
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(stop))
    last_trade_id = expected_trades[-1][0]
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        async with asyncio.timeout(120):
            await daemon.ready.wait()
            while True:
                assert not running.done(), running.exception()
                last = await client.xrevrange(TRADE_STREAM, count=1)
                if last and decode_entry(EventKind.TRADE, last[0][1]).trade_id == last_trade_id:
                    break
                await asyncio.sleep(0.05)
            await exchange.wait_finished()
            await daemon.service.wait_idle()
    finally:
        stop.set()
        await running
        await client.aclose()
    return metrics


async def recorded_trades(redis_url) -> list[tuple[int, str, str]]:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        entries = await client.xrange(TRADE_STREAM)
    finally:
        await client.aclose()
    trades = [decode_entry(EventKind.TRADE, fields) for _, fields in entries]
    return [(trade.trade_id, str(trade.price), str(trade.quantity)) for trade in trades]


async def test_every_trade_once_in_order_exactly_and_the_book_matches_every_book_ticker(redis_url, tmp_path, timeline, expected_trades):
    tops: dict[int, tuple] = {}

    def remember_top(book: OrderBook) -> None:
        tops[book.last_update_id] = (book.best_bid(), book.best_ask())

    async with ReplayExchange(ReplaySettings(recordings=(RECORDING,), speed=None), timeline=timeline) as exchange:
        metrics = await ingest(redis_url, exchange, tmp_path, expected_trades, remember_top)
        largest_batch = daemon_settings(redis_url, exchange, tmp_path).redis.write_batch_size

    assert await recorded_trades(redis_url) == expected_trades
    assert len(expected_trades) == 19_904
    assert metrics.total("tradebot_ingest_parse_errors_total") == 0
    assert metrics.total("tradebot_ingest_gaps_found_total") == 0

    # Every bookTicker that landed in Redis whose update id is the end of a depth diff must show
    # the same best bid and ask as the book rebuilt from the snapshot and the diffs.
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        tickers = await client.xrange(BOOK_TICKER_STREAM)
    finally:
        await client.aclose()
    assert len(tickers) == 73_174
    compared = mismatched = 0
    for _, fields in tickers:
        ticker = decode_entry(EventKind.BOOK_TICKER, fields)
        top = tops.get(ticker.update_id)
        if top is None:
            continue
        compared += 1
        mismatched += top != ((ticker.bid_price, ticker.bid_quantity), (ticker.ask_price, ticker.ask_quantity))
    assert mismatched == 0
    # 1,072 bookTickers share an update id with a depth diff once the recorder's snapshot is in;
    # the daemon's book goes live a little later when the exchange has moved past that point.
    assert compared >= 1_000

    # Latest state: the newest bookTicker, and the rebuilt book's top as of its last update.
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        latest = decode_entry(EventKind.BOOK_TICKER, await client.hgetall("tradebot:latest:bookTicker:BTCUSDT"))
        book = await client.hgetall("tradebot:book:BTCUSDT")
    finally:
        await client.aclose()
    assert latest == decode_entry(EventKind.BOOK_TICKER, tickers[-1][1])
    last_update_id = int(book[b"last_update_id"])
    assert last_update_id == max(tops)
    best_bid, best_ask = tops[last_update_id]
    assert book[b"bids"].startswith(f'[["{best_bid[0]}","{best_bid[1]}"]'.encode())
    assert book[b"asks"].startswith(f'[["{best_ask[0]}","{best_ask[1]}"]'.encode())
    assert book[b"crossed"] == b"0"

    # The daemon measured itself: receive lag per kind, one Redis latency per entry, every batch.
    assert metrics.value("tradebot_ingest_receive_lag_seconds_count", kind="trade") == 19_904
    assert metrics.value("tradebot_ingest_receive_to_redis_seconds_count") == 99_573
    # At least as many batches as the largest batch allows (the writer never writes more at once).
    assert metrics.value("tradebot_redis_write_seconds_count") >= 99_573 / largest_batch
    assert metrics.value("tradebot_ingest_backlog_events") == 0


async def test_twenty_disconnects_and_an_id_gap_lose_and_double_nothing(redis_url, tmp_path, timeline, expected_trades):
    first_skipped, last_skipped = expected_trades[9_000][0], expected_trades[9_049][0]
    async with ReplayExchange(ReplaySettings(recordings=(RECORDING,), speed=None), timeline=timeline) as exchange:
        exchange.skip_ids("btcusdt@trade", first_skipped, last_skipped)
        exchange.drop_after_frames(4_500, mode="abrupt", times=20)
        metrics = await ingest(redis_url, exchange, tmp_path, expected_trades)
        assert exchange.counters.connections_dropped_by_fault["abrupt"] == 20

    assert await recorded_trades(redis_url) == expected_trades  # none missing, none twice, in order
    assert metrics.total("tradebot_ingest_reconnects_total") == 20
    assert metrics.value("tradebot_ingest_gaps_found_total", channel="trade") == 1
    assert metrics.value("tradebot_ingest_gaps_repaired_total", channel="trade") == 1
    assert metrics.value("tradebot_ingest_backfilled_events_total", channel="trade") == 50
    assert metrics.total("tradebot_ingest_gaps_unrepaired_total") == 0


async def test_outages_that_lose_data_are_all_repaired_over_rest(redis_url, tmp_path, timeline, expected_trades):
    """Harsher than the live exchange's usual day: 5 drops, each followed by 2 s of market the
    daemon never sees on the websocket (trades and depth diffs); trades come back over REST and
    the book is rebuilt from new snapshots."""
    async with ReplayExchange(ReplaySettings(recordings=(RECORDING,), speed=None), timeline=timeline) as exchange:
        exchange.drop_after_frames(15_000, mode="abrupt", outage_ns=2_000_000_000, times=5)
        metrics = await ingest(redis_url, exchange, tmp_path, expected_trades)

    assert await recorded_trades(redis_url) == expected_trades
    assert metrics.total("tradebot_ingest_reconnects_total") == 5
    trade_gaps = metrics.value("tradebot_ingest_gaps_found_total", channel="trade")
    assert trade_gaps >= 4  # an outage in a quiet second may hold no trade
    assert metrics.value("tradebot_ingest_gaps_repaired_total", channel="trade") == trade_gaps
    assert metrics.value("tradebot_ingest_gaps_repaired_total", channel="depthUpdate") == metrics.value("tradebot_ingest_gaps_found_total", channel="depthUpdate") >= 4
    assert metrics.total("tradebot_ingest_gaps_unrepaired_total") == 0


MALFORMED_KINDS = ("truncated_json", "unknown_event", "missing_field", "wrong_type")


async def test_broken_frames_are_counted_and_skipped_and_every_valid_frame_arrives(redis_url, tmp_path, timeline, expected_trades):
    async with ReplayExchange(ReplaySettings(recordings=(RECORDING,), speed=None), timeline=timeline) as exchange:
        for stream in ("btcusdt@trade", "btcusdt@bookTicker", "btcusdt@depth@100ms"):
            for kind in MALFORMED_KINDS:
                exchange.send_malformed(kind, stream)
        metrics = await ingest(redis_url, exchange, tmp_path, expected_trades)
        assert exchange.counters.malformed_frames_sent == 12

    assert await recorded_trades(redis_url) == expected_trades
    errors = {
        (sample.labels["kind"], sample.labels["reason"]): sample.value
        for metric in metrics.parse_errors.collect() for sample in metric.samples if sample.name.endswith("_total")
    }
    assert sum(errors.values()) == 12
    for kind in ("trade", "bookTicker", "depthUpdate"):
        assert errors[(kind, "missing_field")] == 1
        assert errors[(kind, "wrong_type")] == 1
    assert errors[("unknown", "malformed_json")] == 3  # truncated: the stream name cannot be trusted
    assert sum(value for (kind, reason), value in errors.items() if reason == "unknown_event") == 3
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        assert await client.xlen(BOOK_TICKER_STREAM) == 73_174
        assert await client.xlen("tradebot:stream:depthUpdate:BTCUSDT") == 6_495
    finally:
        await client.aclose()
