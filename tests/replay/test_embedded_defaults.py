"""What `make run` does, in-process: the shipped settings, a private Redis, the replay exchange.

The only overrides are a temporary data directory, full replay speed and a free metrics port; the
daemon must ingest the whole bundled recording and stop by itself when the recording ends, and a
second run must start from an empty replay record rather than refuse everything as recorded.
"""

import asyncio
from pathlib import Path

import redis

from bot.app import Daemon
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
    await run_once(tmp_path)  # the replay restarts its recording; the old replay record is cleared
    assert stream_lengths(tmp_path) == expected
