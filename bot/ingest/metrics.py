"""Prometheus metrics of the ingest path. docs/metrics.md lists them for people.

Each daemon owns a registry, so several daemons in one process (tests, benchmarks) keep their
counts apart; the HTTP endpoint serves the registry it is given.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.domain.events import EventKind

_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_WRITE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class HotCounter(Collector):
    """A one-label counter bumped on every market message.

    prometheus_client's Counter takes a lock and several calls per increment; on the per-message
    path that cost more than decoding the message. Here the hot path adds to a plain dict entry
    (`counts[label] += 1`) and the values are read only when Prometheus scrapes.
    """

    def __init__(self, name: str, documentation: str, label: str, values: Sequence[str], registry: CollectorRegistry) -> None:
        self._name = name.removesuffix("_total")
        self._documentation = documentation
        self._label = label
        self.counts: dict[str, int] = dict.fromkeys(values, 0)
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self._name, self._documentation, labels=[self._label])
        for value, count in self.counts.items():
            family.add_metric([value], count)
        yield family


class HistogramSeries:
    __slots__ = ("bounds", "bounds_ns", "counts", "total")

    def __init__(self, bounds: list[float]) -> None:
        self.bounds = bounds
        self.bounds_ns = [round(bound * 1e9) for bound in bounds]
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def observe_since(self, now_ns: int, started_ns: Iterable[int]) -> None:
        """observe((now_ns - started) / 1e9) for every start time but 0 (none known), for a whole
        Redis batch at once: the start times sorted in C, then one bisect per bucket bound,
        instead of a Python call (or even a subtraction) per entry. A time no older than a
        bound counts in that bound's bucket, as in observe()."""
        ordered = sorted(started_ns)
        first = bisect_right(ordered, 0)
        size = len(ordered)
        if first == size:
            return
        counts = self.counts
        within_previous = 0
        for index, bound_ns in enumerate(self.bounds_ns):
            within = size - bisect_left(ordered, now_ns - bound_ns, first)  # started at or after now - bound
            counts[index] += within - within_previous
            within_previous = within
        counts[-1] += size - first - within_previous
        self.total += ((size - first) * now_ns - sum(islice(ordered, first, None))) / 1e9


class HotHistogram(Collector):
    """A histogram observed on every market message, for the same reason as HotCounter."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry, label: str | None = None) -> None:
        self._name = name
        self._documentation = documentation
        self._label = label
        self._bounds = list(buckets)
        self._series: dict[str, HistogramSeries] = {}
        registry.register(self)

    def series(self, label_value: str = "") -> HistogramSeries:
        series = self._series.get(label_value)
        if series is None:
            series = self._series[label_value] = HistogramSeries(self._bounds)
        return series

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self._name, self._documentation, labels=[self._label] if self._label else None)
        for label_value, series in self._series.items():
            cumulative, buckets = 0, []
            for bound, count in zip([*map(str, self._bounds), "+Inf"], series.counts):
                cumulative += count
                buckets.append((bound, cumulative))
            family.add_metric([label_value] if self._label else [], buckets, series.total)
        yield family


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        kinds = [kind.value for kind in EventKind]
        self.messages = HotCounter("tradebot_ingest_messages_total", "Market messages received, by event kind.", "kind", kinds, r)
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
        self.receive_lag = HotHistogram("tradebot_ingest_receive_lag_seconds", "Local receive time minus exchange event time.", _LAG_BUCKETS, r, label="kind")
        self.redis_write = Histogram("tradebot_redis_write_seconds", "Time to write one pipelined batch to Redis.", buckets=_WRITE_BUCKETS, registry=r)
        self.redis_write_batch = Histogram("tradebot_redis_write_batch_entries", "Entries per pipelined Redis write.", buckets=(1, 4, 16, 64, 256, 512, 1024, 4096), registry=r)
        self.receive_to_redis = HotHistogram("tradebot_ingest_receive_to_redis_seconds", "From frame receipt to its entry acknowledged by Redis.", _WRITE_BUCKETS, r)
        self.redis_entries_failed = Counter("tradebot_redis_entries_failed_total", "Entries Redis refused for a reason other than already holding them (e.g. a key of the wrong type, out of memory); each is logged.", registry=r)
        self.backlog = Gauge("tradebot_ingest_backlog_events", "Events received but not yet written to Redis.", registry=r)
        self.rest_weight = Gauge("tradebot_rest_used_weight_1m", "REST request weight used in the current minute, as reported by the exchange.", registry=r)

    def total(self, name: str) -> float:
        """The sum of a counter over all its label values (e.g. every kind of parse error)."""
        return sum(sample.value for metric in self.registry.collect() for sample in metric.samples if sample.name == name)

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value, for tests and the status command."""
        sample = self.registry.get_sample_value(name, labels or None)
        return sample or 0.0


def log_ingest_status(metrics: IngestMetrics, writer) -> None:
    """The periodic (and final) "ingest status" line: what was received, written and left."""
    total = metrics.total
    structlog.get_logger("bot.app").info(
        "ingest status",
        messages=int(total("tradebot_ingest_messages_total")),
        messages_by_kind={str(kind): count for kind, count in metrics.messages.counts.items() if count},
        written_to_redis=writer.statistics.entries_written,
        backlog=writer.backlog,
        reconnects=int(total("tradebot_ingest_reconnects_total")),
        parse_errors=int(total("tradebot_ingest_parse_errors_total")),
        gaps_repaired=int(total("tradebot_ingest_gaps_repaired_total")),
    )
