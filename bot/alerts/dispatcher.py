"""Fan-out of alerts to the channels, built so that alerts never block trading.

`publish()` is synchronous and never waits: it filters (kind switched off, a repeat within the
dedup window), logs the alert, and offers it to each channel's bounded queue. One worker task per
channel takes from its queue (most severe first), keeps to the channel's rate (at most N in any window), delivers with
a time-out, retries with jittered backoff (or after the receiver's `retry_after`) and gives up
after `max_attempts`. A full queue drops the least severe alert (the new one when none waiting
is less severe) and counts it. So a
slow, failing or hanging receiver costs its own channel, not the others and not the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import OrderedDict, deque
from collections.abc import Sequence

import structlog

from bot.alerts.alert import Alert, log_alert
from bot.alerts.channel import Channel, DeliveryError
from bot.alerts.kinds import SEVERITY_RANK
from bot.alerts.metrics import AlertMetrics
from bot.backoff import Backoff, RateLimiter
from bot.clock import Clock, MonotonicClock
from bot.config.alerts import AlertSettings

log = structlog.get_logger("bot.alerts")

_NANOSECONDS = 1_000_000_000
# Telegram asks for pauses of seconds to a minute; a receiver asking for more is treated as down.
_LONGEST_RETRY_AFTER_SECONDS = 300.0
_RANKS_HIGH_FIRST = sorted(set(SEVERITY_RANK.values()), reverse=True)
_RANKS_LOW_FIRST = _RANKS_HIGH_FIRST[::-1]
# Alerts remembered for deduplication at most; past it the oldest are forgotten first.
_DEDUP_MEMORY = 10_000


class ChannelWorker:
    def __init__(
        self, channel: Channel, settings: AlertSettings, metrics: AlertMetrics,
        pace_clock: Clock, random_source: random.Random,
    ) -> None:
        self.channel = channel
        self._settings = settings
        self._metrics = metrics
        self._minimum_rank = SEVERITY_RANK[channel.limits.min_severity]
        self._capacity = channel.limits.queue_size or settings.queue_size
        self._waiting: dict[int, deque[Alert]] = {rank: deque() for rank in _RANKS_HIGH_FIRST}
        self._size = 0
        self._arrived = asyncio.Event()
        self._limiter = RateLimiter(
            pace_clock, channel.limits.max_messages, int(channel.limits.per_seconds * _NANOSECONDS),
        )
        self._backoff = Backoff(settings.backoff_initial_seconds, settings.backoff_max_seconds, 2.0, random_source)
        self._depth = metrics.queue_depth.labels(channel.name)
        self._busy = False
        metrics.add_channel(channel.name)

    def offer(self, alert: Alert) -> None:
        rank = SEVERITY_RANK[alert.severity]
        if rank < self._minimum_rank:
            return
        if self._size >= self._capacity:
            # Full: a more severe alert takes the place of the oldest of the least severe ones, so
            # a flood of fills never pushes out a kill switch or a failed nightly run.
            lowest = next(level for level in _RANKS_LOW_FIRST if self._waiting[level])
            if lowest >= rank:
                self._metrics.dropped.labels(self.channel.name, "queue_full").inc()
                return
            self._waiting[lowest].popleft()
            self._size -= 1
            self._metrics.dropped.labels(self.channel.name, "queue_full").inc()
        self._waiting[rank].append(alert)
        self._size += 1
        self._depth.set(self._size)
        self._arrived.set()

    @property
    def idle(self) -> bool:
        return self._size == 0 and not self._busy

    async def _next(self) -> Alert:
        """The most severe waiting alert, oldest first within a severity."""
        while self._size == 0:
            self._arrived.clear()
            await self._arrived.wait()
        self._size -= 1
        self._depth.set(self._size)
        return next(self._waiting[level] for level in _RANKS_HIGH_FIRST if self._waiting[level]).popleft()

    async def run(self) -> None:
        while True:
            alert = await self._next()
            self._busy = True
            try:
                await self._deliver(alert)
            finally:
                self._busy = False

    async def _deliver(self, alert: Alert) -> None:
        name = self.channel.name
        for attempt in range(1, self._settings.max_attempts + 1):
            while (wait_ns := self._limiter.wait_ns()) > 0:
                await asyncio.sleep(wait_ns / _NANOSECONDS)
            try:
                async with asyncio.timeout(self._settings.request_timeout_seconds):
                    await self.channel.deliver(alert)
            except (DeliveryError, TimeoutError) as error:
                self._limiter.record()
                self._metrics.failed.labels(name).inc()
                retryable = not isinstance(error, DeliveryError) or error.retryable
                reason = str(error) or "timed out"
                if not retryable or attempt == self._settings.max_attempts:
                    self._metrics.dropped.labels(name, "gave_up").inc()
                    log.error("alert not delivered; giving up", channel=name, kind=alert.kind, attempts=attempt, error=reason)
                    return
                delay = self._backoff.delay(attempt)
                if isinstance(error, DeliveryError) and error.retry_after is not None:
                    delay = min(error.retry_after, _LONGEST_RETRY_AFTER_SECONDS)
                log.warning("alert delivery failed; retrying", channel=name, kind=alert.kind, attempt=attempt,
                            retry_in_seconds=round(delay, 2), error=reason)
                await asyncio.sleep(delay)
            except Exception as error:  # noqa: BLE001 - a channel's bug must not end its worker
                self._limiter.record()
                self._metrics.failed.labels(name).inc()
                self._metrics.dropped.labels(name, "gave_up").inc()
                log.exception("alert channel failed unexpectedly", channel=name, kind=alert.kind, error=repr(error))
                return
            else:
                # Counted when the request has finished, not when it left: the receiver has then
                # seen it, so no window of `per_seconds` at the receiver's end holds more than the
                # limit either, whatever the network's delays.
                self._limiter.record()
                self._metrics.sent.labels(name).inc()
                return

    def discard_waiting(self) -> int:
        """Empties the queue at shutdown; returns how many alerts were still waiting."""
        discarded = self._size
        for waiting in self._waiting.values():
            waiting.clear()
        self._size = 0
        if discarded:
            self._metrics.dropped.labels(self.channel.name, "shutdown").inc(discarded)
        self._depth.set(0)
        return discarded


class AlertDispatcher:
    """The AlertSink of the daemon: every alert goes through here to every channel."""

    def __init__(
        self, settings: AlertSettings, channels: Sequence[Channel], clock: Clock, metrics: AlertMetrics,
        pace_clock: Clock | None = None, random_source: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.metrics = metrics
        random_source = random_source or random.Random()
        self.workers = [
            ChannelWorker(channel, settings, metrics, pace_clock or MonotonicClock(), random_source) for channel in channels
        ]
        self._window_ns = int(settings.dedup_window_seconds * _NANOSECONDS)
        # Oldest first (each publish moves its key to the end), so pruning looks only at the front.
        self._last_sent: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._tasks: list[asyncio.Task] = []

    def publish(self, alert: Alert) -> bool:
        """Queues the alert for every channel that takes it; False when it was suppressed."""
        if not self.settings.kind_enabled(alert.kind):
            self.metrics.suppressed.labels(alert.kind, "disabled").inc()
            return False
        now = self._clock.now_ns()
        key = (alert.kind, alert.message)
        last = self._last_sent.get(key)
        if last is not None and now - last < self._window_ns:
            self.metrics.suppressed.labels(alert.kind, "duplicate").inc()
            return False
        self._last_sent[key] = now
        self._last_sent.move_to_end(key)
        self._forget_old(now)
        log_alert(alert)
        for worker in self.workers:
            worker.offer(alert)
        return True

    def _forget_old(self, now: int) -> None:
        """Drops what left the window, and the oldest beyond _DEDUP_MEMORY, from the front only:
        O(1) per publish. (Rebuilding the whole map on every publish once it held more than the
        limit cost milliseconds per alert in a flood, on the event loop the engine runs on.)"""
        remembered = self._last_sent
        while remembered:
            oldest_key, oldest = next(iter(remembered.items()))
            if now - oldest < self._window_ns and len(remembered) <= _DEDUP_MEMORY:
                return
            del remembered[oldest_key]

    async def send(self, alert: Alert) -> None:
        """AlertSink: the model watcher and nightly runner call this; it never waits on delivery."""
        self.publish(alert)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(worker.run(), name=f"alerts-{worker.channel.name}") for worker in self.workers]

    async def flush(self, seconds: float) -> bool:
        """Waits up to `seconds` for every queue to empty; True when everything went out."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(seconds, 0.0)):
                while not all(worker.idle for worker in self.workers):
                    await asyncio.sleep(0.02)
        return all(worker.idle for worker in self.workers)

    async def close(self, seconds: float) -> None:
        """Delivers what is queued within `seconds`, then stops the workers and closes channels;
        alerts still waiting are counted as dropped (reason shutdown) and logged."""
        if self._tasks:
            await self.flush(seconds)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: redis-py can swallow a cancellation in the middle of a command, and a worker
            # that survives it must not keep the daemon from exiting.
            await asyncio.wait(self._tasks, timeout=1.0)
        self._tasks = []
        for worker in self.workers:
            left = worker.discard_waiting()
            if left:
                log.error("alerts not delivered before shutdown", channel=worker.channel.name, alerts=left)
            with contextlib.suppress(Exception):
                await worker.channel.close()
