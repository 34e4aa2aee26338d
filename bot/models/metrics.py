"""Prometheus metrics of the hot-loaded models (docs/metrics.md lists them for people)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ModelMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.version = Gauge(
            "tradebot_model_version_info", "1 for the model version the daemon trades on, by model name and version.",
            ["name", "version"], registry=r,
        )
        self.age = Gauge(
            "tradebot_model_age_seconds", "Wall-clock time since the end of the loaded model's training window.",
            ["name"], registry=r,
        )
        self.stale = Gauge("tradebot_model_stale", "1 while the loaded model is older than models.max_age_minutes.", ["name"], registry=r)
        self.loads = Counter(
            "tradebot_model_loads_total", "Model versions loaded and swapped in (ok) or refused (refused).",
            ["name", "result"], registry=r,
        )
        self.swap_seconds = Gauge(
            "tradebot_model_last_swap_seconds", "Time from noticing a new version to trading on it (the load runs off the event loop).",
            ["name"], registry=r,
        )

    def loaded(self, name: str, previous: str | None, version: str, seconds: float) -> None:
        if previous is not None:
            self.version.remove(name, previous)
        self.version.labels(name, version).set(1)
        self.loads.labels(name, "ok").inc()
        self.swap_seconds.labels(name).set(seconds)

    def refused(self, name: str) -> None:
        self.loads.labels(name, "refused").inc()

    def value(self, metric: str, /, **labels: str) -> float:
        """A sample's current value (0 when absent), for tests and the status command."""
        return self.registry.get_sample_value(metric, labels or None) or 0.0
