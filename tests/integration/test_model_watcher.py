"""The hot-load watcher on a real Redis and real models (tests/model_support.py): a promotion
without a notice is found by polling CURRENT; a refused version is alerted once and not retried
until CURRENT changes; staleness is alerted once per transition, by the injected wall clock."""

from __future__ import annotations

import asyncio

import msgspec

from bot.alerts import RedisAlertStream
from bot.bus.redis_keys import RedisKeys
from bot.clock import ManualClock
from bot.config.models import ModelSettings
from bot.models.holder import ModelHolder
from bot.models.metrics import ModelMetrics
from bot.models.registry import ModelRegistry
from bot.models.watcher import ModelWatcher, hot_loaded_models
from bot.config.trading import StrategyEntry
from model_support import MILLISECONDS, store, train

GOOD, CORRUPT, NEWER = "20250924T020000Z", "20250924T030000Z", "20250924T040000Z"


async def alerts(client, keys: RedisKeys) -> list[dict]:
    return [msgspec.json.decode(fields[b"alert"]) for _, fields in await client.xrange(keys.alerts())]


async def until(condition, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_polling_refusal_memory_and_staleness(tmp_path, redis_client):
    registry = ModelRegistry(tmp_path)
    good = train("classifier", 2_000, rounds=6)
    manifest = store(registry, "signal", GOOD, "classifier", good, 2_000)
    corrupt = good[:-40]
    store(registry, "signal", CORRUPT, "classifier", corrupt, 2_000)
    store(registry, "signal", NEWER, "classifier", train("classifier", 2_400, rounds=6), 2_400)
    registry.promote("signal", GOOD)
    keys = RedisKeys("watcher")
    end_ns = manifest.training_window.end_ms * MILLISECONDS
    clock = ManualClock(end_ns + 60 * 60 * 10**9)  # an hour after the training data ended
    metrics = ModelMetrics()
    watcher = ModelWatcher(
        "signal", registry, redis_client, keys, RedisAlertStream(redis_client, keys.alerts()), metrics,
        ModelSettings(root=tmp_path, poll_seconds=0.05, max_age_minutes=120), clock, holder=ModelHolder("signal"),
    )
    await watcher.start()
    assert watcher.version == GOOD and not watcher.stale
    assert metrics.value("tradebot_model_age_seconds", name="signal") == 3600
    task = asyncio.create_task(watcher.run())
    try:
        registry.promote("signal", CORRUPT)  # no PUBLISH: polling must find it
        await until(lambda: watcher.refusals == 1)
        await asyncio.sleep(0.3)  # six more polls of the same CURRENT
        assert watcher.refusals == 1 and watcher.version == GOOD and watcher.notices == 0
        clock.set(end_ns + 3 * 3600 * 10**9)  # three hours: stale
        await until(lambda: watcher.stale)
        await asyncio.sleep(0.2)
        registry.promote("signal", NEWER)
        await redis_client.publish(keys.model_channel("signal"), NEWER)
        await until(lambda: watcher.version == NEWER)
        assert watcher.notices >= 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    recorded = await alerts(redis_client, keys)
    assert [(alert["kind"], alert["details"]["version"]) for alert in recorded] == [
        ("model_rejected", CORRUPT), ("model_stale", GOOD),  # each once, though polled many times
    ]
    assert "XGBoost cannot parse" in recorded[0]["message"] and recorded[0]["details"]["kept_version"] == GOOD
    assert metrics.value("tradebot_model_loads_total", name="signal", result="ok") == 2
    assert metrics.value("tradebot_model_loads_total", name="signal", result="refused") == 1
    assert metrics.value("tradebot_model_stale", name="signal") == 0  # the newer model's data ends later: fresh again
    assert metrics.value("tradebot_model_version_info", name="signal", version=NEWER) == 1


def test_the_daemon_hot_loads_the_models_of_its_ml_signal_strategies(tmp_path):
    entries = [
        StrategyEntry(name="ml_signal", parameters={"model_name": "b"}),
        StrategyEntry(name="ml_signal", parameters={"model_name": "a"}),
        StrategyEntry(name="ml_signal", parameters={"model_name": "a", "threshold": 0.6}),
        StrategyEntry(name="sma_cross"),
    ]
    assert hot_loaded_models(entries) == ["a", "b"]
