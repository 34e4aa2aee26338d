"""Prometheus metrics of alert delivery, by channel. docs/metrics.md lists them for people."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class AlertMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.sent = Counter("tradebot_alerts_sent_total", "Alerts delivered, by channel.", ["channel"], registry=r)
        self.failed = Counter(
            "tradebot_alerts_failed_total", "Failed delivery attempts (each retry counts), by channel.", ["channel"], registry=r,
        )
        self.dropped = Counter(
            "tradebot_alerts_dropped_total",
            "Alerts a channel gave up on: queue_full, gave_up (attempts used up or refused), shutdown.",
            ["channel", "reason"], registry=r,
        )
        self.suppressed = Counter(
            "tradebot_alerts_suppressed_total", "Alerts not sent at all: their kind is disabled, or a duplicate within the window.",
            ["kind", "reason"], registry=r,
        )
        self.queue_depth = Gauge("tradebot_alerts_queue_depth", "Alerts waiting in a channel's queue.", ["channel"], registry=r)

    def add_channel(self, channel: str) -> None:
        """Every series of a channel from the start (at 0), so rate() and alert rules see them."""
        self.sent.labels(channel)
        self.failed.labels(channel)
        for reason in ("queue_full", "gave_up", "shutdown"):
            self.dropped.labels(channel, reason)
        self.queue_depth.labels(channel).set(0)
