"""A whole Redis batch observed at once must land in the same buckets as one observe() per entry."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry

from bot.ingest.metrics import HotHistogram

BOUNDS = [0.001, 0.005, 0.01, 0.05, 0.1, 1.0]


def test_observe_many_matches_observe_one_by_one_including_values_on_a_bound() -> None:
    generator = random.Random(7)
    values = [generator.choice([0.0, *BOUNDS, generator.uniform(0, 2)]) for _ in range(2_000)]
    one_by_one = HotHistogram("one", "one by one", BOUNDS, CollectorRegistry()).series()
    for value in values:
        one_by_one.observe(value)
    at_once = HotHistogram("many", "at once", BOUNDS, CollectorRegistry()).series()
    at_once.observe_many(values[:700])
    at_once.observe_many([])
    at_once.observe_many(values[700:])

    assert at_once.counts == one_by_one.counts
    assert sum(at_once.counts) == 2_000
    assert at_once.counts[BOUNDS.index(0.01)] >= 1  # a value exactly on a bound counts in that bucket
    assert abs(at_once.total - one_by_one.total) < 1e-9
