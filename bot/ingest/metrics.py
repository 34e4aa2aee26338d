"""Prometheus metrics of the ingest path. docs/metrics.md lists them for people.

Each daemon owns a registry, so several daemons in one process (tests, benchmarks) keep their
counts apart; the HTTP endpoint serves the registry it is given.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_WRITE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.messages = Counter("tradebot_ingest_messages_total", "Market messages received, by event kind.", ["kind"], registry=r)
        self.parse_errors = Counter("tradebot_ingest_parse_errors_total", "Frames that could not be decoded and were skipped, by kind and reason.", ["kind", "reason"], registry=r)
        self.duplicates = Counter("tradebot_ingest_duplicates_total", "Events dropped because the record already holds them (overlapping connections, backfill overlap).", ["kind"], registry=r)
        self.reconnects = Counter("tradebot_ingest_reconnects_total", "Websocket connections lost unexpectedly and opened again.", registry=r)
        self.handovers = Counter("tradebot_ingest_connection_handovers_total", "Planned connection replacements (24-hour limit, serverShutdown).", ["reason"], registry=r)
        self.connect_failures = Counter("tradebot_ingest_connect_failures_total", "Failed attempts to open a websocket connection.", registry=r)
        self.gaps_found = Counter("tradebot_ingest_gaps_found_total", "Gaps found in a sequenced channel.", ["channel"], registry=r)
        self.gaps_repaired = Counter("tradebot_ingest_gaps_repaired_total", "Gaps filled over REST (trades, klines) or by a new book snapshot (depth).", ["channel"], registry=r)
        self.gaps_unrepaired = Counter("tradebot_ingest_gaps_unrepaired_total", "Gaps that could not be filled; each is logged and audited in Redis.", ["channel"], registry=r)
        self.backfilled = Counter("tradebot_ingest_backfilled_events_total", "Events fetched over REST to fill gaps.", ["channel"], registry=r)
        self.book_resyncs = Counter("tradebot_ingest_book_resyncs_total", "Local order books rebuilt from a REST snapshot.", registry=r)
        self.stale_streams = Counter("tradebot_ingest_stream_stalls_total", "Times a stream went silent for longer than the staleness limit.", registry=r)
        self.stale_streams_now = Gauge("tradebot_ingest_stale_streams", "Streams silent for longer than the staleness limit right now.", registry=r)
        self.receive_lag = Histogram("tradebot_ingest_receive_lag_seconds", "Local receive time minus exchange event time.", ["kind"], buckets=_LAG_BUCKETS, registry=r)
        self.redis_write = Histogram("tradebot_redis_write_seconds", "Time to write one pipelined batch to Redis.", buckets=_WRITE_BUCKETS, registry=r)
        self.redis_write_batch = Histogram("tradebot_redis_write_batch_entries", "Entries per pipelined Redis write.", buckets=(1, 4, 16, 64, 256, 512, 1024, 4096), registry=r)
        self.receive_to_redis = Histogram("tradebot_ingest_receive_to_redis_seconds", "From frame receipt to its entry acknowledged by Redis.", buckets=_WRITE_BUCKETS, registry=r)
        self.backlog = Gauge("tradebot_ingest_backlog", "Events received but not yet written to Redis.", registry=r)
        self.rest_weight = Gauge("tradebot_rest_used_weight_1m", "REST request weight used in the current minute, as reported by the exchange.", registry=r)

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value, for tests and the status command."""
        sample = self.registry.get_sample_value(name, labels or None)
        return sample or 0.0
