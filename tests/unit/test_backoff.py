import random

import pytest

from bot.backoff import Backoff, RateLimiter
from bot.clock import ManualClock


def test_backoff_ceiling_grows_exponentially_and_caps():
    backoff = Backoff(initial_seconds=0.5, maximum_seconds=30, multiplier=2, random_source=random.Random(1))
    assert [backoff.ceiling(n) for n in (1, 2, 3, 7, 8, 500)] == [0.5, 1, 2, 30, 30, 30]
    delays = [backoff.delay(4) for _ in range(200)]
    assert all(0 <= delay <= 4 for delay in delays)
    assert max(delays) - min(delays) > 2  # jittered, not a fixed step


def test_rate_limiter_allows_five_per_sliding_second():
    clock = ManualClock(0)
    limiter = RateLimiter(clock, count=5)
    for _ in range(5):
        assert limiter.wait_ns() == 0
        limiter.record()
    assert limiter.wait_ns() == 1_000_000_000
    clock.advance(400_000_000)
    assert limiter.wait_ns() == 600_000_000
    clock.advance(600_000_000)
    assert limiter.wait_ns() == 0


def test_rate_limiter_needs_a_positive_count():
    with pytest.raises(ValueError):
        RateLimiter(ManualClock(), count=0)
