"""Crash safety of the engine and its ledger: SIGKILL at random points, restart, same result.

The bundled real BTCUSDT recording is ingested once into a real Redis. Then `tradebot run` runs
as an engine-only process (ingest.enabled false) over that record:
  1. once without interruption, to the end of the record: the reference ledger;
  2. after the engine's state is wiped, again, but SIGKILLed at random moments (seeded) and
     restarted each time, until it reaches the end.
The orders, fills, positions, balances, decisions and account of run 2 must equal run 1's exactly:
no order lost or doubled, no fill booked twice, no decision recorded twice.

Why the engine process and not ingest: what ingest misses while dead is, for depth diffs and
bookTickers, gone for good (Binance cannot resend it), so the *record* of a killed ingest
legitimately differs from an uninterrupted one; the guarantee is that the engine's effects are
exactly-once over whatever record there is.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from bot.app import Daemon
from bot.bus.redis_keys import RedisKeys
from bot.config import load_settings

ROOT = Path(__file__).parents[2]
NAMESPACE = "crash"
KEYS = RedisKeys(NAMESPACE)
KILLS = 10

pytestmark = pytest.mark.slow


def environment(redis_url: str, **extra: str) -> dict[str, str]:
    return {
        "TRADEBOT_REDIS__URL": redis_url,
        "TRADEBOT_REDIS__NAMESPACE": NAMESPACE,
        "TRADEBOT_REPLAY_EXCHANGE__SPEED": "",
        "TRADEBOT_METRICS__ENABLED": "false",
        "TRADEBOT_LOGGING__FORMAT": "json",
        "TRADEBOT_LOGGING__LEVEL": "WARNING",
        **extra,
    }


async def ingest_the_recording(redis_url: str, data_directory: Path) -> None:
    settings = load_settings(ROOT / "config/tradebot.yaml", {
        **environment(redis_url), "TRADEBOT_ENGINE__ENABLED": "false", "TRADEBOT_DATA_DIRECTORY": str(data_directory),
    })
    await asyncio.wait_for(Daemon(settings).run(asyncio.Event()), 120)


def start_engine(redis_url: str, data_directory: Path) -> subprocess.Popen:
    env = {**os.environ, "TRADEBOT_CONFIG": str(ROOT / "config/tradebot.yaml"),
           **environment(redis_url, TRADEBOT_INGEST__ENABLED="false", TRADEBOT_DATA_DIRECTORY=str(data_directory))}
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def caught_up(client: redis.Redis) -> bool:
    """Every record stream fully delivered to the engine group and acknowledged."""
    for key in client.scan_iter(match=f"{NAMESPACE}:stream:*"):
        last = client.xinfo_stream(key)["last-generated-id"]
        groups = {group["name"]: group for group in client.xinfo_groups(key)}
        group = groups.get(b"engine")
        if group is None or group["pending"] or (client.xlen(key) and group["last-delivered-id"] != last):
            return False
    return True


def run_to_the_end(redis_url: str, data_directory: Path, client: redis.Redis) -> None:
    process = start_engine(redis_url, data_directory)
    deadline = time.monotonic() + 120
    while not caught_up(client):
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the engine did not reach the end of the record"
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0  # a clean stop within 10 s


def ledger(client: redis.Redis) -> dict[str, object]:
    return {
        "orders": client.hgetall(KEYS.orders()),
        "positions": client.hgetall(KEYS.positions()),
        "balances": client.hgetall(KEYS.balances()),
        "fills": [fields for _, fields in client.xrange(KEYS.fills())],
        "decisions": [fields for _, fields in client.xrange(KEYS.decisions())],
        "account": {k: v for k, v in client.hgetall(KEYS.account()).items() if k != b"ts"},
        "assessments": client.hgetall(KEYS.assessments()),
    }


def wipe_engine_state(client: redis.Redis) -> None:
    for key in (KEYS.orders(), KEYS.positions(), KEYS.balances(), KEYS.fills(), KEYS.decisions(), KEYS.account(),
                KEYS.assessments(), KEYS.engine_snapshots(), KEYS.state_changes()):
        client.delete(key)
    for key in client.scan_iter(match=f"{NAMESPACE}:stream:*"):
        client.xgroup_destroy(key, "engine")


async def test_sigkilled_engine_ends_with_the_ledger_of_an_uninterrupted_run(redis_url, tmp_path):
    await ingest_the_recording(redis_url, tmp_path / "ingest")
    client = redis.Redis.from_url(redis_url)
    try:
        run_to_the_end(redis_url, tmp_path / "engine", client)
        reference = ledger(client)
        assert len(reference["orders"]) >= 10 and reference["fills"] and len(reference["decisions"]) >= 1000

        wipe_engine_state(client)
        chooser = random.Random(20261121)
        kills = 0
        progress: list[int] = []
        while kills < KILLS and not caught_up(client):
            process = start_engine(redis_url, tmp_path / "engine")
            time.sleep(chooser.uniform(0.8, 2.5))  # start-up takes ~0.7 s; kill anywhere after it
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            kills += 1
            progress.append(client.xlen(KEYS.decisions()))
        run_to_the_end(redis_url, tmp_path / "engine", client)
        result = ledger(client)
    finally:
        client.close()

    assert kills >= 3, f"the engine finished before it could be killed enough ({kills} kills)"
    assert progress[0] < len(reference["decisions"]), "the first kill came after the engine had finished"
    for part in ("orders", "positions", "balances", "fills", "decisions", "account", "assessments"):
        assert result[part] == reference[part], part
