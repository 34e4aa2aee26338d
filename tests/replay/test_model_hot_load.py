"""Acceptance 3 of issue 5: the daemon, running on a replay, hot-loads a newly published model
without dropping an event, and refuses a corrupt model and a model with a wrong feature list
while the old one keeps trading; the refusals are alerts in `<namespace>:alerts`.

The whole daemon runs in this process: replay exchange (real BTCUSDT 1m klines, paced) ->
websocket -> ingest -> Redis -> engine with ml_signal -> paper broker -> ledger. The models are
real XGBoost classifiers trained on the same real bars (tests/model_support.py). The test plays
the nightly pipeline: store, promote, PUBLISH, and watches the daemon's decisions in Redis.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec
import pytest

from bot.app import Daemon
from bot.backtest.data import DataSpec, load_market_data
from bot.backtest.runner import EXCHANGE_INFO, BacktestOptions, plan_backtest
from bot.backtest.through_daemon import _write_recording
from bot.bus.redis_keys import RedisKeys
from bot.config.models import ModelSettings
from bot.config.sections import ExchangeSettings, RedisSettings, ReplayExchangeSettings
from bot.features.spec import FEATURE_SPEC
from bot.models.registry import ModelRegistry
from bot.models.stall import LoopLagProbe
from model_support import MILLISECONDS, RECORDING, bars, store, train

NAMESPACE = "hotload"
FIRST, SECOND, CORRUPT, WRONG_FEATURES = "20250923T020000Z", "20250924T020000Z", "20250924T030000Z", "20250924T040000Z"
REPLAYED = slice(2_400, 3_000)  # 600 real bars, replayed at 3,000x: about 12 s
SPEED = 3_000.0


def stock_registry(root: Path) -> ModelRegistry:
    """FIRST current; SECOND (trained on more bars), CORRUPT and WRONG_FEATURES stored, not promoted."""
    registry = ModelRegistry(root)
    store(registry, "signal", FIRST, "classifier", train("classifier", 2_000, rounds=8), 2_000)
    store(registry, "signal", SECOND, "classifier", train("classifier", 2_400, rounds=12), 2_400)
    good = train("classifier", 2_400, rounds=10)
    truncated = good[: len(good) // 2]  # the manifest's sha256 is the truncated file's: the parse must catch it
    store(registry, "signal", CORRUPT, "classifier", truncated, 2_400)
    names = FEATURE_SPEC.names
    other_features = train("classifier", 2_400, columns=tuple(range(1, len(names))))
    store(registry, "signal", WRONG_FEATURES, "classifier", other_features, 2_400, feature_names=names[1:])
    registry.promote("signal", FIRST)
    return registry


async def decisions(client, keys: RedisKeys) -> list[dict]:
    return [msgspec.json.decode(fields[b"decision"]) for _, fields in await client.xrange(keys.decisions())]


async def wait_for(condition, what: str, timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_the_daemon_hot_loads_a_new_model_and_refuses_bad_ones(tmp_path, redis_url, redis_client):
    replayed = bars()[REPLAYED]
    data = load_market_data([DataSpec(RECORDING)], start_ns=replayed[0].open_time, end_ns=replayed[-1].close_time + 1)
    assert [bar.open_time for bar in data.events] == [bar.open_time for bar in replayed]
    recording = tmp_path / "market.jsonl"
    _write_recording(recording, data.frames)
    registry = stock_registry(tmp_path / "models")
    plan = plan_backtest(BacktestOptions(strategy="ml_signal", parameters={
        "model_name": "signal", "threshold": 0.45, "max_model_age_minutes": 5_000,
    }), data)
    settings = plan.settings.model_copy(update={
        "data_directory": tmp_path,
        "redis": RedisSettings(url=redis_url, namespace=NAMESPACE),
        "exchange": ExchangeSettings(venue="replay"),
        "replay_exchange": ReplayExchangeSettings(recordings=(recording, EXCHANGE_INFO), speed=SPEED),
        "models": ModelSettings(root=tmp_path / "models", poll_seconds=5.0),
        "engine": plan.settings.engine.model_copy(update={"record_holds": True}),  # a decision for every bar
    })
    keys = RedisKeys(NAMESPACE)
    daemon = Daemon(settings)
    running = asyncio.create_task(daemon.run(asyncio.Event()))  # stops by itself when the replay ends
    await asyncio.wait_for(daemon.ready.wait(), 30)
    [watcher] = daemon.model_watchers
    assert watcher.version == FIRST  # loaded before the engine took its first event

    async def decided(count: int):
        return await redis_client.xlen(keys.decisions()) >= count

    await wait_for(lambda: decided(60), "60 decisions on the first model")
    async with LoopLagProbe() as baseline:  # the loop's lateness while the replay runs and nothing swaps
        await wait_for(lambda: decided(100), "100 decisions on the first model")
    # A new version: promote, then PUBLISH, as the nightly pipeline does.
    registry.promote("signal", SECOND)  # the pipeline's step (another process in production): not probed
    async with LoopLagProbe() as probe:
        await redis_client.publish(keys.model_channel("signal"), SECOND)

        async def switched():
            return watcher.version == SECOND

        await wait_for(switched, "the switch to the second model")
    swap_stall = probe.worst_seconds
    for bad in (CORRUPT, WRONG_FEATURES):
        refusals = watcher.refusals
        registry.promote("signal", bad)
        await redis_client.publish(keys.model_channel("signal"), bad)

        async def refused():
            return watcher.refusals == refusals + 1

        await wait_for(refused, f"the refusal of {bad}")
        assert watcher.version == SECOND
    switched_during = len(await decisions(redis_client, keys))
    await asyncio.wait_for(running, 60)

    # No event dropped: every replayed bar reached the engine and has exactly one decision.
    assert daemon.metrics.value("tradebot_ingest_messages_total", kind="kline") == len(replayed)
    recorded = await decisions(redis_client, keys)
    assert [decision["trigger"] for decision in recorded] == [f"kline_1m:{bar.open_time}" for bar in replayed]
    assert switched_during < len(recorded) - 100, "the bad models were refused before the replay ended"
    # Which model decided each bar: the first, then the second from the swap on; never a bad one.
    named = [FIRST if FIRST in d["reason"] else SECOND if SECOND in d["reason"] else None for d in recorded]
    warm_up = named.index(FIRST)
    assert all(name is None and recorded[i]["reason"].startswith("warming up") for i, name in enumerate(named[:warm_up]))
    switch = named.index(SECOND)
    assert 100 - 1 <= switch and set(named[warm_up:switch]) == {FIRST} and set(named[switch:]) == {SECOND}
    assert not any(CORRUPT in d["reason"] or WRONG_FEATURES in d["reason"] for d in recorded)
    actions = {d["action"] for d in recorded[switch:]}
    assert "HOLD" in actions and actions & {"BUY", "SELL"}, actions  # the second model keeps trading

    # The refusals are alerts in <namespace>:alerts, with the reasons.
    alerts = [msgspec.json.decode(fields[b"alert"]) for _, fields in await redis_client.xrange(keys.alerts())]
    rejected = {alert["details"]["version"]: alert for alert in alerts if alert["kind"] == "model_rejected"}
    assert rejected.keys() == {CORRUPT, WRONG_FEATURES}
    assert "XGBoost cannot parse model.ubj" in rejected[CORRUPT]["message"]
    assert "feature list differs from the daemon's spec" in rejected[WRONG_FEATURES]["message"]
    assert all(alert["severity"] == "warning" and alert["details"]["kept_version"] == SECOND for alert in rejected.values())
    # Trained on September 2025 bars: by the wall clock the watcher uses for alerts, stale.
    assert {alert["details"]["version"] for alert in alerts if alert["kind"] == "model_stale"} == {FIRST, SECOND}

    metrics = daemon.model_metrics
    assert metrics.value("tradebot_model_loads_total", name="signal", result="ok") == 2
    assert metrics.value("tradebot_model_loads_total", name="signal", result="refused") == 2
    assert metrics.value("tradebot_model_version_info", name="signal", version=SECOND) == 1
    assert metrics.registry.get_sample_value("tradebot_model_version_info", {"name": "signal", "version": FIRST}) is None
    assert 0 < metrics.value("tradebot_model_last_swap_seconds", name="signal") < 2
    assert metrics.value("tradebot_model_age_seconds", name="signal") > 24 * 3600
    # The load ran in a worker thread: the loop kept ticking through the swap. The target is
    # under 10 ms; the bound here is loose for 2 shared cores under parallel test runs.
    print(f"\nlongest event-loop stall during the swap: {swap_stall * 1000:.2f} ms over {probe.samples} probes "
          f"(swap took {metrics.value('tradebot_model_last_swap_seconds', name='signal') * 1000:.1f} ms); "
          f"without a swap: {baseline.worst_seconds * 1000:.2f} ms over {baseline.samples} probes")
    assert swap_stall < 0.1
