"""Prometheus metrics of the engine. docs/metrics.md lists them for people.

Counts are plain dicts bumped on the hot path and turned into metric families only when
Prometheus scrapes (the same reason as `bot.ingest.metrics.HotCounter`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.domain.trading import TradingState
from bot.ingest.metrics import HotHistogram

_DECISION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LabelledCounts(Collector):
    """A counter with several labels whose values are only known as they appear."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str], registry: CollectorRegistry) -> None:
        self._name = name.removesuffix("_total")
        self._documentation = documentation
        self._labels = list(labels)
        self.counts: dict[tuple[str, ...], int] = {}
        registry.register(self)

    def inc(self, *values: str) -> None:
        self.counts[values] = self.counts.get(values, 0) + 1

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self._name, self._documentation, labels=self._labels)
        for values, count in sorted(self.counts.items()):
            family.add_metric(list(values), count)
        yield family


class _EventCounts(Collector):
    def __init__(self, registry: CollectorRegistry, counts: dict[str, int]) -> None:
        self._counts = counts
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily("tradebot_engine_events", "Market events handled by the engine, by kind.", labels=["kind"])
        for kind, count in sorted(self._counts.items()):
            family.add_metric([kind], count)
        yield family


class EngineMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.events: dict[str, int] = {}
        _EventCounts(self.registry, self.events)
        self.signals = LabelledCounts("tradebot_engine_signals_total", "Strategy signals, by strategy and side (BUY/SELL/HOLD).", ["strategy", "side"], self.registry)
        self.verdicts = LabelledCounts("tradebot_engine_guard_verdicts_total", "Guard assessments, by guard and level.", ["guard", "level"], self.registry)
        self.orders = LabelledCounts("tradebot_engine_orders_total", "Order updates from the broker, by side and status.", ["side", "status"], self.registry)
        self.fills = LabelledCounts("tradebot_engine_fills_total", "Fills booked, by side.", ["side"], self.registry)
        self.decision_latency = HotHistogram(
            "tradebot_engine_decision_latency_seconds",
            "From receiving the event that triggered a decision to the decision being committed.",
            _DECISION_BUCKETS, self.registry,
        )
        self.equity = Gauge("tradebot_engine_equity", "Account equity in the quote asset, at mid prices.", registry=self.registry)
        self.position_value = Gauge("tradebot_engine_position_value", "Value of open positions in the quote asset.", registry=self.registry)
        self.trading_state = Gauge("tradebot_engine_trading_state", "1 for the current TradingState.", ["state"], registry=self.registry)
        self.batch_events = Gauge("tradebot_engine_batch_events", "Events in the last batch handled.", registry=self.registry)
        self.set_trading_state(TradingState.ACTIVE)

    def signal(self, strategy: str, side: str) -> None:
        self.signals.inc(strategy, side)

    def verdict(self, guard: str, level: str) -> None:
        self.verdicts.inc(guard, level)

    def order(self, side: str, status: str) -> None:
        self.orders.inc(side, status)

    def fill(self, side: str) -> None:
        self.fills.inc(side)

    def set_trading_state(self, state: TradingState) -> None:
        for candidate in TradingState:
            self.trading_state.labels(state=candidate.value).set(1 if candidate is state else 0)
