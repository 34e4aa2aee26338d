"""Well-formed but impossible events never become a channel's cursor, and REST holes are kept apart.

A trade for another symbol, an exchange time far in our future, or an id past the exchange's
newest trade would otherwise move a channel's cursor to where no real event can follow, and
every real event after it would be dropped as "already recorded".
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from bot.bus.redis_codec import decode_entry
from bot.bus.redis_keys import RedisKeys
from bot.bus.redis_writer import RedisStreamWriter
from bot.clock import WallClock
from bot.domain.events import EventKind, Kline, StreamMessage, Trade
from bot.ingest.metrics import IngestMetrics
from bot.ingest.rest import RestGateway
from bot.ingest.service import IngestService, IngestSettings
from bot.sim.exchange import ReplayExchange
from bot.sim.settings import ReplaySettings

RECORDING = Path(__file__).parents[2] / "bot/sim/recordings/spot_BTCUSDT_depth100ms-bookTicker-trade_2024-08-08T2354_2024-08-09T0005.jsonl.gz"
FIRST_TRADE_ID = 3_735_683_259
KEYS = RedisKeys("tradebot")


def trade(trade_id: int, symbol: str = "BTCUSDT", ahead_ns: int = 0) -> Trade:
    now = WallClock().now_ns()
    return Trade(symbol=symbol, ts_event=now + ahead_ns, ts_init=now, trade_id=trade_id, price=Decimal("61837.63000000"),
                 quantity=Decimal("0.02000000"), buyer_is_maker=True, ts_trade=now - 1_000_000)


@pytest.fixture
async def service(redis_client):
    async with ReplayExchange(ReplaySettings(recordings=(RECORDING,), speed=None)) as exchange:
        exchange.advance_unattended()  # the exchange has traded the whole recording
        await exchange.wait_finished()
        metrics = IngestMetrics()
        writer = RedisStreamWriter(redis_client, KEYS, {})
        settings = IngestSettings(symbols=["BTCUSDT"], streams=["trade", "kline_1m"], backfill_max_records=1_000)
        async with RestGateway(exchange.rest_base_url, WallClock()) as rest:
            ingest = IngestService(settings, WallClock(), KEYS, writer, rest, exchange.ws_base_url, metrics)
            await ingest.restore()
            writer_task = asyncio.create_task(writer.run())
            yield ingest, metrics, redis_client
            await ingest.wait_idle()
            writer_task.cancel()


def invalid_values(metrics: IngestMetrics) -> float:
    return metrics.value("tradebot_ingest_parse_errors_total", kind="trade", reason="invalid_value")


async def stored_ids(redis_client) -> list[int]:
    entries = await redis_client.xrange(KEYS.stream("trade", "BTCUSDT"))
    return [decode_entry(EventKind.TRADE, fields).trade_id for _, fields in entries]


async def test_another_symbols_trade_or_a_time_in_the_future_is_refused(service):
    ingest, metrics, redis_client = service
    ingest.on_message(StreamMessage("btcusdt@trade", trade(FIRST_TRADE_ID)))
    ingest.on_message(StreamMessage("btcusdt@trade", trade(FIRST_TRADE_ID + 1, symbol="ETHUSDT")))
    ingest.on_message(StreamMessage("btcusdt@trade", trade(FIRST_TRADE_ID + 1, ahead_ns=3_600 * 10**9)))
    ingest.on_message(StreamMessage("ethusdt@trade", trade(FIRST_TRADE_ID + 1, symbol="ETHUSDT")))
    ingest.on_message(StreamMessage("btcusdt@trade", trade(FIRST_TRADE_ID + 1)))
    await ingest.wait_idle()
    assert invalid_values(metrics) == 3
    assert await stored_ids(redis_client) == [FIRST_TRADE_ID, FIRST_TRADE_ID + 1]


async def test_an_id_past_the_exchanges_newest_trade_is_dropped_not_made_the_cursor(service):
    ingest, metrics, redis_client = service
    ingest.on_message(StreamMessage("btcusdt@trade", trade(FIRST_TRADE_ID)))
    ingest.on_message(StreamMessage("btcusdt@trade", trade(FIRST_TRADE_ID + 10**9)))  # far past the exchange
    await ingest.wait_idle()
    ingest.on_message(StreamMessage("btcusdt@trade", trade(FIRST_TRADE_ID + 1)))
    await ingest.wait_idle()
    assert invalid_values(metrics) == 1
    assert metrics.value("tradebot_ingest_gaps_unrepaired_total", channel="trade") == 0
    assert await stored_ids(redis_client) == [FIRST_TRADE_ID, FIRST_TRADE_ID + 1]


async def test_a_hole_in_what_rest_returns_is_audited_and_the_rest_is_kept(service, monkeypatch):
    ingest, metrics, redis_client = service
    one = Decimal("1")
    minute = 60 * 10**9

    def bar(index: int) -> Kline:
        return Kline(symbol="BTCUSDT", ts_event=0, ts_init=0, interval="1m", open_time=index * minute,
                     close_time=index * minute + minute - 1, open=one, high=one, low=one, close=one, volume=one,
                     quote_volume=one, trade_count=1, taker_buy_base_volume=one, taker_buy_quote_volume=one,
                     first_trade_id=-1, last_trade_id=-1, is_closed=True)

    async def rest_without_bar_15(gap):  # bars 11..20 asked; the exchange has none for 15
        return [bar(index) for index in range(11, 21) if index != 15]

    monkeypatch.setattr(ingest, "_fetch", rest_without_bar_15)
    ingest.on_message(StreamMessage("btcusdt@kline_1m", bar(10)))
    ingest.on_message(StreamMessage("btcusdt@kline_1m", bar(21)))
    await ingest.wait_idle()
    entries = await redis_client.xrange(KEYS.stream("kline_1m", "BTCUSDT"))
    assert [decode_entry(EventKind.KLINE, fields).open_time // minute for _, fields in entries] == [10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 21]
    assert metrics.value("tradebot_ingest_gaps_unrepaired_total", channel="kline_1m") == 1
    assert metrics.value("tradebot_ingest_gaps_repaired_total", channel="kline_1m") == 0


async def test_a_forming_bar_of_another_symbol_or_stream_never_becomes_latest_state(service):
    ingest, metrics, redis_client = service
    now = WallClock().now_ns()
    one = Decimal("1")

    def forming(symbol: str) -> Kline:
        return Kline(symbol=symbol, ts_event=now, ts_init=now, interval="1m", open_time=now - now % (60 * 10**9),
                     close_time=now - now % (60 * 10**9) + 60 * 10**9 - 1, open=one, high=one, low=one, close=one,
                     volume=one, quote_volume=one, trade_count=1, taker_buy_base_volume=one, taker_buy_quote_volume=one,
                     first_trade_id=1, last_trade_id=1, is_closed=False)

    ingest.on_message(StreamMessage("btcusdt@kline_1m", forming("ETHUSDT")))  # another symbol's bar
    ingest.on_message(StreamMessage("ethusdt@kline_1m", forming("ETHUSDT")))  # a stream nobody asked for
    await ingest.wait_idle()
    assert metrics.value("tradebot_ingest_parse_errors_total", kind="kline", reason="invalid_value") == 2
    assert await redis_client.exists(KEYS.latest("kline_1m", "ETHUSDT")) == 0
    ingest.on_message(StreamMessage("btcusdt@kline_1m", forming("BTCUSDT")))  # the real one is kept
    await ingest.wait_idle()
    stored = await redis_client.hget(KEYS.latest("kline_1m", "BTCUSDT"), "event")
    assert stored is not None and decode_entry(EventKind.KLINE, {b"event": stored}).is_closed is False
