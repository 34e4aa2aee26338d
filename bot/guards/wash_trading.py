"""Wash-trading heuristics on the trade stream.

Three patterns that self-dealing leaves and honest flow rarely does:

- much volume with almost no price change: a bar whose volume is a multiple of the median bar
  while its high-low range stays within a few basis points;
- bursts of equal-size trades: within a short window, one trade size makes up most trades (a bot
  trading with itself repeats its size; real BTCUSDT flow peaks at about a third, mostly the
  minimum-notional size);
- echo trades: a trade at the same price and size as the one before it, on the other side.

Each heuristic is graded on its own (at most HIGH); two or more firing together is CRITICAL.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import Literal

from pydantic import Field

from bot.domain.events import AggTrade, MarketEvent, Trade
from bot.domain.trading import GuardLevel, GuardVerdict
from bot.guards.bars import Bar, BarBuilder
from bot.guards.base import (
    SECOND,
    Escalation,
    GuardSettingsModel,
    above,
    grade,
    make_verdict,
    number,
)


class WashTradingSettings(GuardSettingsModel):
    enabled: bool = True
    source: Literal["trade", "aggTrade"] = Field("trade", description="trade stream to inspect (one only)")
    # Volume without a price change.
    bar_seconds: int = Field(60, gt=0, description="bar length for the volume-without-price-change test")
    baseline_bars: int = Field(60, ge=2, le=10_000, description="bars whose median volume is 'normal'")
    min_baseline_bars: int = Field(10, ge=1, description="bars needed before the flat-volume test runs")
    flat_volume_ratio: float = Field(3.0, gt=1, description="bar volume / median bar volume that counts as 'much'")
    flat_range_bps: float = Field(2.0, gt=0, description="bar high-low range in bps at or below which price 'did not move'")
    # Equal-size bursts.
    burst_seconds: int = Field(10, gt=0, description="window for equal-size bursts")
    burst_min_trades: int = Field(30, ge=2, description="trades of one size needed in the window before it can be a burst")
    equal_size_share: float = Field(0.6, gt=0, le=1, description="share of the window's trades of one size that is MODERATE")
    # Echo trades.
    echo_seconds: int = Field(60, gt=0, description="window in which echo trades are counted")
    echo_trades: int = Field(10, ge=1, description="echo trades (same price and size, other side) in the window that is MODERATE")
    escalation: Escalation = Escalation(low=0.75, high=1.5, critical=2.0)


class _SizeCounter:
    """Counts of trade sizes in a sliding window with the largest count kept exactly in O(1):
    `sizes_with_count[c]` says how many sizes have count c, so when the top size loses a trade the
    new maximum is known without a scan."""

    __slots__ = ("count", "largest", "sizes_with_count")

    def __init__(self) -> None:
        self.count: dict[Decimal, int] = {}
        self.sizes_with_count: dict[int, int] = {}
        self.largest = 0

    def add(self, size: Decimal) -> None:
        old = self.count.get(size, 0)
        self.count[size] = old + 1
        if old:
            self.sizes_with_count[old] -= 1
        self.sizes_with_count[old + 1] = self.sizes_with_count.get(old + 1, 0) + 1
        self.largest = max(self.largest, old + 1)

    def remove(self, size: Decimal) -> None:
        old = self.count[size]
        self.sizes_with_count[old] -= 1
        if old == 1:
            del self.count[size]
        else:
            self.count[size] = old - 1
            self.sizes_with_count[old - 1] += 1
        if old == self.largest and self.sizes_with_count[old] == 0:
            self.largest = old - 1


class WashTradingGuard:
    name = "wash_trading"

    def __init__(self, symbol: str, settings: WashTradingSettings | None = None) -> None:
        self.symbol = symbol
        self.settings = settings or WashTradingSettings()
        self._trade_kind = Trade if self.settings.source == "trade" else AggTrade
        self._volumes: deque[float] = deque(maxlen=self.settings.baseline_bars)
        self._flat: tuple[float, float] | None = None  # (volume ratio, range bps) of the last complete bar
        self._builder = BarBuilder(self.settings.bar_seconds * SECOND, self.settings.source, self._on_close,
                                   max_empty_bars=self.settings.baseline_bars)
        self._burst_ns = self.settings.burst_seconds * SECOND
        self._burst: deque[tuple[int, Decimal]] = deque()
        self._sizes = _SizeCounter()
        self._echo_ns = self.settings.echo_seconds * SECOND
        self._echoes: deque[int] = deque()
        self._previous: Trade | AggTrade | None = None

    def observe(self, event: MarketEvent) -> None:
        if type(event) is not self._trade_kind:
            return
        trade: Trade | AggTrade = event  # type: ignore[assignment]
        ts = trade.ts_trade
        self._builder.add_trade(ts, float(trade.price), float(trade.quantity))
        burst, sizes = self._burst, self._sizes
        burst.append((ts, trade.quantity))
        sizes.add(trade.quantity)
        start = ts - self._burst_ns
        while burst[0][0] <= start:
            sizes.remove(burst.popleft()[1])
        previous = self._previous
        if (previous is not None and trade.price == previous.price and trade.quantity == previous.quantity
                and trade.buyer_is_maker != previous.buyer_is_maker):
            self._echoes.append(ts)
        echoes = self._echoes
        start = ts - self._echo_ns
        while echoes and echoes[0] <= start:
            echoes.popleft()
        self._previous = trade

    def _on_close(self, bar: Bar) -> None:
        if not bar.complete:
            return
        if len(self._volumes) >= self.settings.min_baseline_bars and bar.low > 0:
            ranked = sorted(self._volumes)
            median = ranked[len(ranked) // 2]
            ratio = bar.volume / median if median > 0 else 0.0
            self._flat = (ratio, (bar.high - bar.low) / bar.low * 10_000)
        self._volumes.append(bar.volume)

    def verdict(self, now_ns: int) -> GuardVerdict:
        settings, escalation = self.settings, self.settings.escalation
        findings: list[tuple[GuardLevel, str]] = []
        if self._flat is not None and self._flat[1] <= settings.flat_range_bps:
            ratio, range_bps = self._flat
            level, threshold = grade(ratio, settings.flat_volume_ratio, escalation, cap=GuardLevel.HIGH)
            if level > GuardLevel.NORMAL:
                findings.append((level, above("flat_volume_ratio", ratio, threshold)))
                findings.append((level, f"flat_range_bps={number(range_bps)}<={number(settings.flat_range_bps)}"))
        if self._sizes.largest >= settings.burst_min_trades:
            share = self._sizes.largest / len(self._burst)
            level, threshold = grade(share, settings.equal_size_share, escalation, cap=GuardLevel.HIGH)
            findings.append((level, above("equal_size_share", share, threshold)))
        echoes = len(self._echoes)
        level, threshold = grade(float(echoes), float(settings.echo_trades), escalation, cap=GuardLevel.HIGH)
        findings.append((level, above("echo_trades", float(echoes), threshold, digits=0)))
        fired = {reason.split("=")[0] for level, reason in findings if level >= GuardLevel.MODERATE}
        fired.discard("flat_range_bps")
        if len(fired) >= 2:
            findings.append((GuardLevel.CRITICAL, f"wash_heuristics={len(fired)}>=2"))
        return make_verdict(self.name, self.symbol, now_ns, findings)

    def measures(self) -> dict[str, float]:
        """Current values of the three heuristics, for metrics and tests."""
        return {
            "flat_volume_ratio": self._flat[0] if self._flat else 0.0,
            "flat_range_bps": self._flat[1] if self._flat else 0.0,
            "largest_equal_size_count": float(self._sizes.largest),
            "equal_size_share": self._sizes.largest / len(self._burst) if self._burst else 0.0,
            "echo_trades": float(len(self._echoes)),
        }
