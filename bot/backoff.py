"""Retry pacing and rate limits, as pure arithmetic over an injected clock and random source."""

from __future__ import annotations

import random
from collections import deque

from bot.clock import Clock


class Backoff:
    """Exponential backoff with full jitter: a delay drawn uniformly from [0, min(max, initial*m^n)].

    Full jitter keeps many clients that lost the same server from coming back in lockstep.
    """

    def __init__(
        self,
        initial_seconds: float = 0.5,
        maximum_seconds: float = 30.0,
        multiplier: float = 2.0,
        random_source: random.Random | None = None,
    ) -> None:
        self.initial_seconds = initial_seconds
        self.maximum_seconds = maximum_seconds
        self.multiplier = multiplier
        self._random = random_source or random.Random()

    def ceiling(self, attempt: int) -> float:
        """The largest delay for the n-th consecutive failure (attempt 1 is the first retry)."""
        exponent = max(attempt - 1, 0)
        # Cap the exponent first so a long outage never overflows a float.
        return min(self.maximum_seconds, self.initial_seconds * self.multiplier ** min(exponent, 64))

    def delay(self, attempt: int) -> float:
        return self._random.uniform(0, self.ceiling(attempt))


class RateLimiter:
    """At most `count` actions in any sliding window of `window_ns`: Binance's control-message rule.

    `wait_ns()` says how long to wait before the next action may go out; `record()` notes one.
    """

    def __init__(self, clock: Clock, count: int, window_ns: int = 1_000_000_000) -> None:
        if count < 1:
            raise ValueError("a rate limit needs a count of at least 1")
        self._clock = clock
        self._count = count
        self._window_ns = window_ns
        self._sent: deque[int] = deque()

    def wait_ns(self) -> int:
        now = self._clock.now_ns()
        while self._sent and now - self._sent[0] >= self._window_ns:
            self._sent.popleft()
        if len(self._sent) < self._count:
            return 0
        return self._sent[0] + self._window_ns - now

    def record(self) -> None:
        self._sent.append(self._clock.now_ns())
