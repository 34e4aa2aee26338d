"""Prometheus gauges of the nightly pipeline (docs/metrics.md lists them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, Info

from bot.nightly.report import NightlyReport

STATUS_VALUES = {"ok": 1.0, "failed": 0.0, "timeout": 0.0}


class NightlyMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.status = Gauge("tradebot_nightly_last_run_success", "1 if the last nightly run finished ok, 0 if it failed or timed out.", registry=registry)
        self.finished = Gauge("tradebot_nightly_last_run_timestamp_seconds", "When the last nightly run finished (Unix seconds).", registry=registry)
        self.duration = Gauge("tradebot_nightly_last_run_duration_seconds", "Wall time of the last nightly run.", registry=registry)
        self.rows = Gauge("tradebot_nightly_last_run_rows", "Rows the last nightly run processed, by stage.", ["stage"], registry=registry)
        self.promoted = Gauge("tradebot_nightly_last_run_promoted", "1 if the last nightly run promoted its model.", registry=registry)
        self.model = Info("tradebot_nightly_model", "The model version current after the last nightly run.", registry=registry)
        self.trained_until = Gauge(
            "tradebot_nightly_model_trained_until_timestamp_seconds",
            "End of the current model's training data (Unix seconds); now minus this is the model's age.",
            registry=registry,
        )

    def observe(self, report: NightlyReport) -> None:
        self.status.set(STATUS_VALUES[report.status])
        self.finished.set(report.finished_at_ns / 1e9)
        self.duration.set(report.duration_seconds)
        for stage, count in report.rows.items():
            self.rows.labels(stage).set(count)
        self.promoted.set(1.0 if report.promoted else 0.0)
        self.model.info({"name": report.model_name, "version": report.current_version})
        if report.current_trained_until_ms:
            self.trained_until.set(report.current_trained_until_ms / 1e3)
