"""`tradebot backtest --through-daemon`: the same backtest through the whole daemon.

The frames the in-process backtest decoded are written as a websocket recording; the daemon
(`bot.app.Daemon`, with the backtest's own Settings) starts the replay exchange on it at full
speed, ingests its websocket streams into a private Redis, and runs the engine from the record
with the paper broker, committing orders and fills to the ledger. When the replay has ended and
the engine has caught up, the daemon stops and the ledger is read back. Its trades must equal
the in-process run's exactly: that is the parity guarantee (tests/replay/test_backtest_parity.py).

Depth books are refused here: the daemon syncs its book from a REST snapshot taken when it
connects, so the book it fills against is not the recording's.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import msgspec
import redis

from bot.backtest.data import MarketData
from bot.backtest.run import BacktestRun
from bot.backtest.runner import (
    EXCHANGE_INFO,
    BacktestError,
    BacktestOptions,
    CloseSampler,
    backtest_run,
    plan_backtest,
)
from bot.bus.redis_keys import RedisKeys
from bot.bus.redis_server import EmbeddedRedis
from bot.config.sections import ExchangeSettings, RedisSettings, ReplayExchangeSettings
from bot.domain.trading import Fill, Order
from bot.logging_setup import configure_logging

_NAMESPACE = "backtest"


def run_through_daemon(options: BacktestOptions, data: MarketData) -> BacktestRun:
    if data.has_depth:
        raise BacktestError(
            "--through-daemon replays klines and trades only: the daemon syncs depth books from its own "
            "REST snapshot, so fills against a recorded book could not match; run it in-process"
        )
    plan = plan_backtest(options, data)
    closes = CloseSampler(plan.interval)
    for event in data.events:
        closes.observe(event)
    closes.finish()
    configure_logging("WARNING", "console")  # the daemon's progress lines are not the user's business here
    with tempfile.TemporaryDirectory(prefix="tradebot-backtest-") as directory:
        recording = Path(directory) / "market.jsonl"
        _write_recording(recording, data.frames)
        with EmbeddedRedis(Path(directory)) as server:
            settings = plan.settings.model_copy(update={
                "data_directory": Path(directory),
                "redis": RedisSettings(url=server.url, namespace=_NAMESPACE),
                "exchange": ExchangeSettings(venue="replay"),
                "replay_exchange": ReplayExchangeSettings(recordings=(recording, EXCHANGE_INFO), speed=None),
            })
            asyncio.run(_run_daemon(settings))
            orders, fills = _read_ledger(server.url)
    return backtest_run(options, plan, data, orders, fills, closes.closes)


def _write_recording(path: Path, frames: list[tuple[int, bytes]]) -> None:
    """hftbacktest's format, which the replay exchange reads: {"recv_time_ns": .., "msg": <frame>}."""
    with path.open("wb") as output:
        for time_ns, frame in frames:
            output.write(b'{"recv_time_ns":%d,"msg":%s}\n' % (time_ns, frame))


async def _run_daemon(settings) -> None:
    from bot.app import Daemon  # the whole daemon: imported only when asked for

    await Daemon(settings).run(asyncio.Event())


def _read_ledger(url: str) -> tuple[list[Order], list[Fill]]:
    keys = RedisKeys(_NAMESPACE)
    with redis.Redis.from_url(url) as client:
        orders = [msgspec.json.decode(value, type=Order) for value in client.hgetall(keys.orders()).values()]
        fills = [msgspec.json.decode(fields[b"fill"], type=Fill) for _, fields in client.xrange(keys.fills())]
    return orders, fills
