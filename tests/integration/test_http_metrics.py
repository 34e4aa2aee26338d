"""/metrics and /healthz over real HTTP, and docs/metrics.md held to what the registry exposes."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.http.server import HttpServer
from bot.alerts.metrics import AlertMetrics
from bot.engine.metrics import EngineMetrics
from bot.nightly.metrics import NightlyMetrics
from bot.nightly.report import NightlyReport
from bot.models.metrics import ModelMetrics
from bot.ingest.metrics import IngestMetrics

METRICS_DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def populate(metrics: IngestMetrics) -> None:
    """Give every labelled metric a series, so the exposition shows its label names."""
    metrics.messages.counts["trade"] += 3
    metrics.messages.counts["depthUpdate"] += 1
    metrics.parse_errors.labels("trade", "malformed_json").inc()
    metrics.duplicates.labels("trade").inc(2)
    metrics.reconnects.inc()
    metrics.handovers.labels("connection lifetime reached").inc()
    metrics.connect_failures.inc()
    metrics.gaps_found.labels("trade").inc()
    metrics.gaps_repaired.labels("trade").inc()
    metrics.gaps_unrepaired.labels("depthUpdate").inc()
    metrics.backfilled.labels("trade").inc(50)
    metrics.book_resyncs.inc()
    metrics.stale_streams.inc()
    metrics.stale_streams_now.set(1)
    metrics.receive_lag.series("trade").observe(0.02)
    metrics.receive_lag.series("trade").observe(0.3)
    metrics.receive_to_redis.series().observe(0.0007)
    metrics.redis_write.observe(0.0004)
    metrics.redis_write_batch.observe(100)
    metrics.backlog.set(12)
    metrics.rest_weight.set(41)


@pytest.fixture
def metrics() -> IngestMetrics:
    """The daemon's registry: ingest and engine metrics together, each series touched once."""
    metrics = IngestMetrics()
    populate(metrics)
    engine = EngineMetrics(metrics.registry)
    engine.events["trade"] = 1
    engine.signal("sma_cross", "BUY")
    engine.verdict("extreme_move", "NORMAL")
    engine.order("BUY", "FILLED")
    engine.fill("BUY")
    engine.decision_latency.series().observe(0.002)
    NightlyMetrics(metrics.registry).observe(NightlyReport(
        status="ok", started_at_ns=1_700_000_000_000_000_000, finished_at_ns=1_700_000_600_000_000_000,
        rows={"features": 8_638}, model_name="signal", model_version="20231114T221320Z", promoted=True,
        current_version="20231114T221320Z", current_trained_until_ms=1_699_990_000_000,
    ))
    models = ModelMetrics(metrics.registry)
    models.loaded("signal", None, "20250924T020000Z", 0.01)
    models.refused("signal")
    models.age.labels("signal").set(3600)
    models.stale.labels("signal").set(0)
    alerts = AlertMetrics(metrics.registry)
    alerts.add_channel("telegram:42")
    alerts.suppressed.labels("order_filled", "duplicate").inc()
    return metrics


@pytest.fixture
async def server(metrics: IngestMetrics) -> AsyncIterator[HttpServer]:
    server = HttpServer(metrics.registry, "127.0.0.1", 0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def get(url: str) -> tuple[int, str, str]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
        return response.status, response.headers["Content-Type"], await response.text()


async def test_metrics_over_http_show_labelled_series_and_histogram_buckets(server: HttpServer) -> None:
    assert server.port != 0  # port 0 asked the OS; the server reports the real one
    status, content_type, text = await get(f"{server.url}/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    lines = set(text.splitlines())
    assert 'tradebot_ingest_messages_total{kind="trade"} 3.0' in lines
    assert 'tradebot_ingest_messages_total{kind="aggTrade"} 0.0' in lines  # every kind from the start
    assert 'tradebot_ingest_parse_errors_total{kind="trade",reason="malformed_json"} 1.0' in lines
    assert 'tradebot_ingest_duplicates_total{kind="trade"} 2.0' in lines
    assert 'tradebot_ingest_gaps_unrepaired_total{channel="depthUpdate"} 1.0' in lines
    assert 'tradebot_ingest_backfilled_events_total{channel="trade"} 50.0' in lines
    assert "tradebot_ingest_backlog_events 12.0" in lines
    assert "tradebot_rest_used_weight_1m 41.0" in lines
    # Histogram buckets are cumulative and end in +Inf, with _count and _sum.
    assert 'tradebot_ingest_receive_lag_seconds_bucket{kind="trade",le="0.01"} 0.0' in lines
    assert 'tradebot_ingest_receive_lag_seconds_bucket{kind="trade",le="0.025"} 1.0' in lines
    assert 'tradebot_ingest_receive_lag_seconds_bucket{kind="trade",le="0.5"} 2.0' in lines
    assert 'tradebot_ingest_receive_lag_seconds_bucket{kind="trade",le="+Inf"} 2.0' in lines
    assert 'tradebot_ingest_receive_lag_seconds_count{kind="trade"} 2.0' in lines
    assert 'tradebot_ingest_receive_to_redis_seconds_bucket{le="0.001"} 1.0' in lines
    assert 'tradebot_redis_write_seconds_bucket{le="0.0005"} 1.0' in lines
    assert 'tradebot_redis_write_batch_entries_bucket{le="256.0"} 1.0' in lines
    assert "tradebot_redis_write_batch_entries_sum 100.0" in lines
    # And it is valid exposition: Prometheus' own parser reads all of it.
    assert {family.name for family in text_string_to_metric_families(text)} >= {"tradebot_ingest_messages", "tradebot_redis_write_seconds"}


async def test_metrics_endpoint_serves_its_own_registry_only(server: HttpServer) -> None:
    _, _, text = await get(f"{server.url}/metrics")
    assert not re.search(r"^(process|python)_", text, re.MULTILINE)  # nothing from the global registry
    other = HttpServer(IngestMetrics().registry, "127.0.0.1", 0)
    await other.start()
    try:
        _, _, other_text = await get(f"{other.url}/metrics")
    finally:
        await other.stop()
    assert 'tradebot_ingest_messages_total{kind="trade"} 0.0' in other_text.splitlines()


async def test_healthz_is_200_json(server: HttpServer) -> None:
    status, content_type, text = await get(f"{server.url}/healthz")
    assert status == 200
    assert content_type.startswith("application/json")
    assert json.loads(text) == {"status": "alive"}


async def test_unknown_path_is_404(server: HttpServer) -> None:
    status, _, _ = await get(f"{server.url}/nothing-here")
    assert status == 404


# --- docs/metrics.md ------------------------------------------------------------------------------

_ROW = re.compile(r"^\|\s*`(?P<name>tradebot_[a-z0-9_]+)`\s*\|\s*(?P<type>\w+)\s*\|(?P<labels>[^|]*)\|")


def documented_metrics() -> dict[str, tuple[str, set[str]]]:
    """name -> (type, label names), from the tables in docs/metrics.md."""
    rows: dict[str, tuple[str, set[str]]] = {}
    for line in METRICS_DOC.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            assert match["name"] not in rows, f"{match['name']} is documented twice"
            rows[match["name"]] = (match["type"], set(re.findall(r"`(\w+)`", match["labels"])))
    return rows


def exposed_metrics(metrics: IngestMetrics) -> dict[str, tuple[str, set[str]]]:
    """name -> (type, label names) as /metrics shows them, leaving out prometheus_client's
    `_created` companions of counters and histograms (docs/metrics.md describes them once)."""
    text = generate_latest(metrics.registry).decode()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    exposed: dict[str, tuple[str, set[str]]] = {}
    for family in text_string_to_metric_families(text):
        name = f"{family.name}_total" if family.type == "counter" else family.name
        if name.endswith("_created") and family.type == "gauge":
            base = name.removesuffix("_created")
            if types.get(f"{base}_total") == "counter" or types.get(base) == "histogram":
                continue
        labels = {label for sample in family.samples for label in sample.labels if label != "le"}
        exposed[name] = (family.type, labels)
    assert set(exposed) <= set(types), "exposition names and parsed names disagree"
    return exposed


def test_docs_list_exactly_the_metrics_the_registry_exposes(metrics: IngestMetrics) -> None:
    documented = documented_metrics()
    exposed = exposed_metrics(metrics)
    assert sorted(set(exposed) - set(documented)) == [], "exposed but not in docs/metrics.md"
    assert sorted(set(documented) - set(exposed)) == [], "in docs/metrics.md but not exposed"
    for name, (kind, labels) in exposed.items():
        assert documented[name] == (kind, labels), f"{name}: docs say {documented[name]}, /metrics shows {(kind, labels)}"


def test_every_exposed_name_follows_the_naming_conventions(metrics: IngestMetrics) -> None:
    for name, (kind, _) in exposed_metrics(metrics).items():
        assert name.startswith("tradebot_"), name
        assert name.endswith("_total") == (kind == "counter"), name
        # Base units only: seconds, not milliseconds or minutes.
        assert not re.search(r"_(milliseconds|ms|minutes)(_total)?$", name), name


def test_docs_describe_both_endpoints() -> None:
    text = METRICS_DOC.read_text(encoding="utf-8")
    assert "`/metrics`" in text and "`/healthz`" in text
