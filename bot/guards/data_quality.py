"""Stale or broken data: a silent feed, a skewed clock, a crossed book, an impossible price.

Staleness compares `now_ns` with the newest `ts_init` (when this process received an event), so
both sides are the same clock: the engine's injected clock, which stamped `ts_init` too.

Clock skew is `ts_init - ts_event`. A single sample mixes the offset between our clock and the
exchange's with that message's network delay, which only ever adds. So the guard takes the
smallest sample of a short window: the best estimate of the offset (a network hiccup cannot fake
it). Positive means events reach us late or our clock runs ahead; negative means our clock runs
behind the exchange (orders would be stamped in the past). Spot bookTicker frames carry no
exchange time (ingest sets `ts_event = ts_init`), so they are left out of the skew.
"""

from __future__ import annotations

from collections import deque

from pydantic import Field, model_validator

from bot.domain.events import AggTrade, BookTicker, Kline, MarketEvent, Trade
from bot.domain.trading import GuardLevel, GuardVerdict
from bot.guards.base import GuardSettingsModel, above, below, make_verdict

MILLISECOND = 1_000_000


class DataQualitySettings(GuardSettingsModel):
    enabled: bool = True
    stale_ms: int = Field(10_000, gt=0, description="silence, in ms, after which the data is HIGH (stale)")
    dead_ms: int = Field(60_000, gt=0, description="silence, in ms, after which the data is CRITICAL (dead)")
    check_clock_skew: bool = Field(
        True, description="judge receive time against exchange time; off for replays, whose exchange times are recorded history"
    )
    skew_window_ms: int = Field(10_000, gt=0, description="window whose smallest ts_init - ts_event is the skew")
    skew_moderate_ms: int = Field(
        1_000, gt=0, description="skew (either sign) that is MODERATE; Binance rejects orders stamped 1 s ahead of it"
    )
    skew_high_ms: int = Field(5_000, gt=0, description="skew that is HIGH; 5 s is Binance's default recvWindow")
    skew_critical_ms: int = Field(30_000, gt=0, description="skew that is CRITICAL")

    @model_validator(mode="after")
    def _ordered(self) -> DataQualitySettings:
        if self.dead_ms <= self.stale_ms:
            raise ValueError(f"dead_ms ({self.dead_ms}) must be above stale_ms ({self.stale_ms})")
        if not self.skew_moderate_ms < self.skew_high_ms < self.skew_critical_ms:
            raise ValueError(
                f"skew limits must rise: skew_moderate_ms ({self.skew_moderate_ms}) < skew_high_ms "
                f"({self.skew_high_ms}) < skew_critical_ms ({self.skew_critical_ms})"
            )
        return self


class DataQualityGuard:
    name = "data_quality"

    def __init__(self, symbol: str, settings: DataQualitySettings | None = None) -> None:
        self.symbol = symbol
        self.settings = settings or DataQualitySettings()
        self._last_init = -1
        self._skew_window_ns = self.settings.skew_window_ms * MILLISECOND
        # Monotonic deque of (ts_init, skew): skews rise from left to right, so the left end is
        # the window's minimum; each sample is pushed and popped at most once.
        self._skews: deque[tuple[int, int]] = deque()
        self._book: BookTicker | None = None
        self._bad_price: str | None = None

    def observe(self, event: MarketEvent) -> None:
        ts_init = event.ts_init
        self._last_init = max(self._last_init, ts_init)
        kind = type(event)
        if kind is BookTicker:
            self._book = event  # type: ignore[assignment]
            if event.ts_event == ts_init:
                return  # no exchange time on spot bookTicker frames
        elif kind is Trade or kind is AggTrade:
            if event.price <= 0 or event.quantity <= 0:  # type: ignore[attr-defined]
                self._bad_price = f"non_positive_trade:price={event.price}:quantity={event.quantity}"  # type: ignore[attr-defined]
        elif kind is Kline and (event.low <= 0 or event.high < event.low):  # type: ignore[attr-defined]
            self._bad_price = f"impossible_kline:high={event.high}:low={event.low}"  # type: ignore[attr-defined]
        skew = ts_init - event.ts_event
        skews = self._skews
        while skews and skews[-1][1] >= skew:
            skews.pop()
        skews.append((ts_init, skew))
        start = ts_init - self._skew_window_ns
        while skews[0][0] <= start:
            skews.popleft()

    def skew_ms(self) -> float | None:
        """The current skew estimate in milliseconds (None before any timed event)."""
        return self._skews[0][1] / MILLISECOND if self._skews else None

    def verdict(self, now_ns: int) -> GuardVerdict:
        settings = self.settings
        findings: list[tuple[GuardLevel, str]] = []
        if self._last_init >= 0:
            silence_ms = (now_ns - self._last_init) / MILLISECOND
            if silence_ms >= settings.dead_ms:
                findings.append((GuardLevel.CRITICAL, above("silence_ms", silence_ms, settings.dead_ms, digits=0)))
            elif silence_ms >= settings.stale_ms:
                findings.append((GuardLevel.HIGH, above("silence_ms", silence_ms, settings.stale_ms, digits=0)))
        skew = self.skew_ms() if settings.check_clock_skew else None
        if skew is not None:
            for level, limit in ((GuardLevel.CRITICAL, settings.skew_critical_ms), (GuardLevel.HIGH, settings.skew_high_ms),
                                 (GuardLevel.MODERATE, settings.skew_moderate_ms)):
                if abs(skew) >= limit:
                    reason = above("clock_skew_ms", skew, limit) if skew > 0 else below("clock_skew_ms", skew, -limit)
                    findings.append((level, reason))
                    break
        book = self._book
        if book is not None and book.bid_price >= book.ask_price:
            findings.append((GuardLevel.CRITICAL, f"crossed_book:bid={book.bid_price}>=ask={book.ask_price}"))
        if self._bad_price is not None:
            findings.append((GuardLevel.CRITICAL, self._bad_price))
        return make_verdict(self.name, self.symbol, now_ns, findings)
