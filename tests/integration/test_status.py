"""`tradebot status` reads the record back for a person: streams, books and gaps."""

import asyncio
from decimal import Decimal
from pathlib import Path

from rich.console import Console

from bot.bus.redis_keys import RedisKeys
from bot.bus.redis_server import EmbeddedRedis, running_server_url
from bot.bus.redis_writer import RedisStreamWriter
from bot.config import load_settings
from bot.domain.events import Trade
from bot.status import show_status

ROOT = Path(__file__).parents[2]


def trade(trade_id: int) -> Trade:
    return Trade(symbol="BTCUSDT", ts_event=1_723_161_255_343_000_000, ts_init=1, trade_id=trade_id,
                 price=Decimal("61837.63000000"), quantity=Decimal("0.02000000"), buyer_is_maker=True,
                 ts_trade=1_723_161_255_342_000_000)


async def test_status_lists_streams_with_counts_and_times(redis_url, redis_client, tmp_path):
    writer = RedisStreamWriter(redis_client, RedisKeys("tradebot"), {})
    task = asyncio.create_task(writer.run())
    for trade_id in range(1, 4):
        writer.append(trade(trade_id), 0)
    writer.append_audit(RedisKeys("tradebot").gaps(), {"state": "repaired"})
    await writer.drained()
    task.cancel()
    settings = load_settings(ROOT / "config/tradebot.yaml", {"TRADEBOT_REDIS__URL": redis_url, "TRADEBOT_DATA_DIRECTORY": str(tmp_path)})
    console = Console(record=True, width=120)
    assert await asyncio.to_thread(show_status, settings, console) == 0
    text = console.export_text()
    assert "trade:BTCUSDT" in text and "│ 3 " in text
    assert "2024-08-08 23:54:15.342" in text
    assert "gaps: 1 repaired" in text


def test_status_finds_a_running_private_server_and_reads_a_stopped_one(tmp_path):
    assert running_server_url(tmp_path) is None
    with EmbeddedRedis(tmp_path) as server:
        assert running_server_url(tmp_path) == server.url
    assert running_server_url(tmp_path) is None
    settings = load_settings(ROOT / "config/tradebot.yaml", {"TRADEBOT_DATA_DIRECTORY": str(tmp_path)})
    console = Console(record=True, width=120)
    assert show_status(settings, console) == 0
    assert "the stored record; no daemon is running" in console.export_text()
    assert running_server_url(tmp_path) is None  # the look-only server was stopped again


async def test_a_namespace_holds_one_venue_and_only_a_replay_record_is_ever_cleared(redis_client):
    import pytest

    from bot.resources import NamespaceInUseError, claim_namespace

    keys = RedisKeys("tradebot")
    assert await claim_namespace(redis_client, keys, "binance", replay_here=False) == 0
    await redis_client.xadd(keys.stream("trade", "BTCUSDT"), {"event": "{}"})
    with pytest.raises(NamespaceInUseError, match="holds the record of venue 'binance', not 'replay'"):
        await claim_namespace(redis_client, keys, "replay", replay_here=True)
    assert await redis_client.xlen(keys.stream("trade", "BTCUSDT")) == 1  # the live record is untouched

    replay = RedisKeys("replay")
    assert await claim_namespace(redis_client, replay, "replay", replay_here=True) == 0
    await redis_client.xadd(replay.stream("trade", "BTCUSDT"), {"event": "{}"})
    assert await claim_namespace(redis_client, replay, "replay", replay_here=True) == 2  # stream + marker
    assert await redis_client.hget(replay.meta(), "venue") == b"replay"

    await redis_client.set("strangers:thing", 1)
    with pytest.raises(NamespaceInUseError, match="keys not written by tradebot"):
        await claim_namespace(redis_client, RedisKeys("strangers"), "replay", replay_here=True)
