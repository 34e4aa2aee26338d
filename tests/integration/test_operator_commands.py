"""The kill switch by command: `tradebot halt` (bot.status.send_command) reaches the running
engine through Redis, the TradingState becomes HALTED with the operator's reason, and from then on
every BUY/SELL signal is denied (`halted`) and no order is placed.

The daemon runs the shipped settings over the bundled real recording at 10x real time; without
the halt, the same first 80 market seconds place orders (see the make-run test).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import redis

from bot.app import Daemon
from bot.bus.redis_keys import RedisKeys
from bot.config import load_settings
from bot.status import send_command

ROOT = Path(__file__).parents[2]
KEYS = RedisKeys("tradebot")


async def test_a_halt_command_stops_every_order_and_is_recorded(redis_url, tmp_path):
    settings = load_settings(ROOT / "config/tradebot.yaml", {
        "TRADEBOT_REDIS__URL": redis_url, "TRADEBOT_DATA_DIRECTORY": str(tmp_path),
        "TRADEBOT_METRICS__ENABLED": "false", "TRADEBOT_REPLAY_EXCHANGE__SPEED": "10",
    })
    daemon = Daemon(settings)
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(stop))
    with redis.Redis.from_url(redis_url) as client:
        try:
            await asyncio.wait_for(daemon.ready.wait(), 60)
            send_command(settings, "halt", "operator test")
            async with asyncio.timeout(10):
                while client.hget(KEYS.account(), "trading_state") != b"HALTED":
                    await asyncio.sleep(0.05)
            await asyncio.sleep(8)  # about 80 s of market: enough for both strategies to signal
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)
        changes = [msgspec.json.decode(fields[b"change"]) for _, fields in client.xrange(KEYS.state_changes())]
        decisions = [msgspec.json.decode(fields[b"decision"]) for _, fields in client.xrange(KEYS.decisions())]
        orders = client.hlen(KEYS.orders())
        account = client.hgetall(KEYS.account())

    assert [(c["previous"], c["state"], c["cause"], c["reason"]) for c in changes] == [("ACTIVE", "HALTED", "command", "operator test")]
    assert (account[b"trading_state"], account[b"state_reason"]) == (b"HALTED", b"operator test")
    acting = [d for d in decisions if d["action"] != "HOLD"]
    assert acting, "no BUY or SELL signal in the window: the test proves nothing"
    assert {d["risk_outcome"] for d in acting} == {"halted"} and orders == 0
