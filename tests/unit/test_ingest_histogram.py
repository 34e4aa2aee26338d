"""A whole Redis batch observed at once must land in the same buckets as one observe() per entry."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry

from bot.ingest.metrics import HotHistogram

BOUNDS = [0.001, 0.005, 0.01, 0.05, 0.1, 1.0]
NOW_NS = 1_723_161_256_000_000_123


def test_observe_since_matches_observe_one_by_one_including_ages_on_a_bound() -> None:
    generator = random.Random(7)
    ages_ns = [generator.choice([0, *(round(bound * 1e9) for bound in BOUNDS), generator.randrange(2_000_000_000)]) for _ in range(2_000)]
    started_ns = [NOW_NS - age for age in ages_ns]
    one_by_one = HotHistogram("one", "one by one", BOUNDS, CollectorRegistry()).series()
    for started in started_ns:
        one_by_one.observe((NOW_NS - started) / 1e9)
    at_once = HotHistogram("many", "at once", BOUNDS, CollectorRegistry()).series()
    at_once.observe_since(NOW_NS, started_ns[:700] + [0, 0])  # 0: no receive time (a bookkeeping entry), not observed
    at_once.observe_since(NOW_NS, [])
    at_once.observe_since(NOW_NS, iter(started_ns[700:]))

    assert at_once.counts == one_by_one.counts
    assert sum(at_once.counts) == 2_000
    assert at_once.counts[BOUNDS.index(0.01)] >= 1 and 10_000_000 in ages_ns  # an age exactly on a bound counts in that bucket
    assert abs(at_once.total - one_by_one.total) < 1e-6
