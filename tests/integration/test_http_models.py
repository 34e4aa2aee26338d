"""/api/v1/models and /api/v1/alerts with a real model watcher: the version loaded, the registry's
CURRENT beside it, the version refused, and the refusal's alert as the watcher stored it.

The models are real small XGBoost models trained on real bars (tests/model_support.py); the
second version is made corrupt (its file cut short), so the watcher refuses it and keeps the first.
"""

from __future__ import annotations

import msgspec
from http_support import TOKEN, bearer, get
from model_support import MILLISECONDS, store, train
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from bot.alerts import RedisAlertStream
from bot.bus.redis_keys import RedisKeys
from bot.clock import ManualClock
from bot.config.models import ModelSettings
from bot.http.queries import TradingQueries
from bot.http.server import HttpServer
from bot.models.holder import ModelHolder
from bot.models.metrics import ModelMetrics
from bot.models.registry import ModelRegistry
from bot.models.watcher import ModelWatcher

GOOD, CORRUPT = "20250924T020000Z", "20250924T030000Z"


async def test_models_show_loaded_current_and_refused_versions_and_the_alert(tmp_path, redis_client):
    registry = ModelRegistry(tmp_path)
    good = train("classifier", 2_000, rounds=6)
    manifest = store(registry, "signal", GOOD, "classifier", good, 2_000)
    store(registry, "signal", CORRUPT, "classifier", good[:-40], 2_000)
    registry.promote("signal", GOOD)
    keys = RedisKeys("api")
    clock = ManualClock(manifest.training_window.end_ms * MILLISECONDS + 3600 * 10**9)
    watcher = ModelWatcher(
        "signal", registry, redis_client, keys, RedisAlertStream(redis_client, keys.alerts()), ModelMetrics(),
        ModelSettings(root=tmp_path), clock, holder=ModelHolder("signal"),
    )
    await watcher.start()
    registry.promote("signal", CORRUPT)
    await watcher.check()  # refuses the corrupt version, alerts, keeps GOOD
    assert watcher.version == GOOD and watcher.refusals == 1

    server = HttpServer(CollectorRegistry(), "127.0.0.1", 0, api_token=SecretStr(TOKEN),
                        queries=TradingQueries(redis_client, keys, model_watchers=lambda: [watcher]))
    await server.start()
    try:
        status, _, body = await get(f"{server.url}/api/v1/models", bearer())
        assert status == 200
        [model] = body["models"]
        assert (model["name"], model["loaded_version"], model["registry_current"], model["refused_version"]) == (
            "signal", GOOD, CORRUPT, CORRUPT)
        assert model["stale"] is False and model["registry_error"] is None
        assert model["manifest"]["kind"] == "classifier"
        assert model["manifest"]["training_window"]["end_ms"] == manifest.training_window.end_ms
        assert model["manifest"]["feature_names"] == list(manifest.feature_names)
        assert model["loaded_at_ns"] == watcher.holder.model.loaded_at_ns

        status, _, body = await get(f"{server.url}/api/v1/alerts", bearer())
        [(entry_id, fields)] = await redis_client.xrange(keys.alerts())
        stored = msgspec.json.decode(fields[b"alert"])
        assert status == 200 and body["alerts"] == [{**stored, "id": entry_id.decode()}]
        assert stored["kind"] == "model_rejected" and stored["details"]["version"] == CORRUPT
    finally:
        await server.stop()
