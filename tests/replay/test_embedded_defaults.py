"""What `make run` does, in-process: the shipped settings, a private Redis, the replay exchange,
ingest and the paper-trading engine.

The only overrides are a temporary data directory, full replay speed and a free metrics port; the
daemon must ingest the whole bundled recording and stop by itself when the recording ends, and a
second run must start from an empty replay record rather than refuse everything as recorded.
"""

import asyncio
from pathlib import Path

import msgspec
from prometheus_client import generate_latest
import redis

from bot.app import Daemon
from bot.bus.redis_keys import RedisKeys
from bot.bus.redis_server import EmbeddedRedis
from bot.config import load_settings

ROOT = Path(__file__).parents[2]


async def run_once(data_directory: Path) -> Daemon:
    settings = load_settings(ROOT / "config/tradebot.yaml", {
        "TRADEBOT_DATA_DIRECTORY": str(data_directory),
        "TRADEBOT_REPLAY_EXCHANGE__SPEED": "",  # as fast as the daemon reads
        "TRADEBOT_METRICS__PORT": "0",
    })
    assert settings.redis.url is None and settings.replay_exchange.enabled
    daemon = Daemon(settings)
    await asyncio.wait_for(daemon.run(asyncio.Event()), 120)  # returns on its own: nobody stops it
    return daemon


def ledger(data_directory: Path) -> dict[str, object]:
    keys = RedisKeys("tradebot")
    with EmbeddedRedis(data_directory) as server, redis.Redis.from_url(server.url) as client:
        return {
            "decisions": [msgspec.json.decode(fields[b"decision"]) for _, fields in client.xrange(keys.decisions())],
            "orders": {key.decode(): msgspec.json.decode(value) for key, value in client.hgetall(keys.orders()).items()},
            "fills": [msgspec.json.decode(fields[b"fill"]) for _, fields in client.xrange(keys.fills())],
            "balances": client.hgetall(keys.balances()),
            "positions": client.hgetall(keys.positions()),
            "assessments": client.hgetall(keys.assessments()),
            "account": client.hgetall(keys.account()),
        }


def stream_lengths(data_directory: Path) -> dict[str, int]:
    with EmbeddedRedis(data_directory) as server, redis.Redis.from_url(server.url) as client:
        return {key.decode().split(":", 2)[2]: client.xlen(key) for key in client.scan_iter(match="tradebot:stream:*")}


async def test_the_shipped_defaults_ingest_the_bundled_recording_and_stop_at_its_end(tmp_path):
    # One depthSnapshot: the book recorded whole when it came into sync (the next checkpoint is
    # due five minutes later by the wall clock, and the full-speed replay lasts seconds).
    expected = {"trade:BTCUSDT": 19_904, "bookTicker:BTCUSDT": 73_174, "depthUpdate:BTCUSDT": 6_495, "depthSnapshot:BTCUSDT": 1}
    daemon = await run_once(tmp_path)
    assert daemon.metrics.value("tradebot_ingest_messages_total", kind="trade") == 19_904
    assert stream_lengths(tmp_path) == expected
    first = ledger(tmp_path)
    exposed = generate_latest(daemon.metrics.registry).decode()
    for name in ("tradebot_engine_events_total{kind=\"trade\"} 19904.0", "tradebot_engine_signals_total{side=\"BUY\"",
                 "tradebot_engine_guard_verdicts_total{guard=\"wash_trading\"", "tradebot_engine_orders_total{side=\"SELL\",status=\"FILLED\"}",
                 "tradebot_engine_fills_total{side=\"BUY\"}", "tradebot_engine_decision_latency_seconds_count",
                 "tradebot_engine_equity ", "tradebot_engine_position_value ", "tradebot_engine_trading_state{state=\"ACTIVE\"} 1.0"):
        assert name in exposed, name
    await run_once(tmp_path)  # the replay restarts its recording; the old replay record is cleared
    assert stream_lengths(tmp_path) == expected
    second = ledger(tmp_path)

    # The engine traded the recording on the paper broker: 1 s bars from 19,904 trades, two
    # strategies, every bar decided; orders filled at the real book; guards assessed each second.
    decisions = first["decisions"]
    assert len(decisions) >= 2 * 600 and {d["strategy"] for d in decisions} == {"sma_cross", "breakout"}
    assert {d["action"] for d in decisions} == {"BUY", "SELL", "HOLD"}
    orders = first["orders"].values()
    assert len(orders) >= 10 and {o["side"] for o in orders} == {"BUY", "SELL"}
    assert all(o["status"] == "FILLED" for o in orders), [o for o in orders if o["status"] != "FILLED"][:3]
    assert len(first["fills"]) >= len(orders)
    assert first["assessments"].keys() == {b"BTCUSDT"} and first["account"][b"trading_state"] == b"ACTIVE"
    assert b"USDT" in first["balances"]
    # Every order and fill traces back to a decision or a risk exit, and both runs agree exactly.
    ordered_by_decisions = {d["order_id"] for d in decisions if d["order_id"]}
    assert ordered_by_decisions <= first["orders"].keys()
    assert {k: v for k, v in first.items() if k != "account"} == {k: v for k, v in second.items() if k != "account"}
