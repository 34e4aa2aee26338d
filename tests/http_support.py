"""A real trading record for the HTTP API tests, and a client for the API.

The record is the daemon's own: the shipped settings trade the bundled real BTCUSDT recording
(bot/sim/recordings) on the paper broker at 20x real time, into a private Redis, and the run
is stopped as soon as the ledger holds an open position, so positions are not empty.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import redis

from bot.app import Daemon
from bot.bus.redis_keys import RedisKeys
from bot.config import load_settings

ROOT = Path(__file__).resolve().parents[1]
KEYS = RedisKeys("tradebot")
# A constructed test secret (not a real credential), long enough for ApiSettings.
TOKEN = "test-token_0123456789-abcdef"
API_ROUTES = ("status", "positions", "orders", "decisions", "guards", "scanner", "models", "alerts")


def daemon_settings(redis_url: str, data_directory: Path, **environment: str):
    return load_settings(ROOT / "config/tradebot.yaml", {
        "TRADEBOT_REDIS__URL": redis_url, "TRADEBOT_DATA_DIRECTORY": str(data_directory),
        "TRADEBOT_REPLAY_EXCHANGE__SPEED": "", "TRADEBOT_METRICS__PORT": "0", "TRADEBOT_API__TOKEN": TOKEN,
        **environment,
    })


async def _trade_until_a_position_is_open(redis_url: str, data_directory: Path) -> None:
    # 20x real time: a batch is a few events, so the one in hand when we stop does not close it.
    daemon = Daemon(daemon_settings(redis_url, data_directory, TRADEBOT_REPLAY_EXCHANGE__SPEED="20"))
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(stop))
    with redis.Redis.from_url(redis_url) as client:
        try:
            async with asyncio.timeout(60):
                while not client.hlen(KEYS.positions()) and not running.done():
                    await asyncio.sleep(0.005)
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)


def make_record(redis_url: str, data_directory: Path) -> None:
    """Runs the daemon on its own event loop (for a module-scoped, synchronous fixture)."""
    asyncio.run(_trade_until_a_position_is_open(redis_url, data_directory))


async def get(url: str, headers: dict[str, str] | None = None, **parameters: Any) -> tuple[int, dict[str, str], Any]:
    """(status, headers, JSON body) of one GET; query parameters passed as given."""
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers or {}, params=parameters or None) as response:
        return response.status, dict(response.headers), await response.json(content_type=None)


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
