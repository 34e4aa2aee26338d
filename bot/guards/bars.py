"""Fixed-interval bars built incrementally from trades, or taken from closed klines.

Several guards reason about bars (volume per minute, the rise and fall of a pump, volume without a
price change). The builder keeps only the forming bar and hands each closed bar to a callback, so
memory stays bounded and each trade costs a few comparisons.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from bot.domain.events import AggTrade, Kline, MarketEvent, Trade
from bot.guards.base import SECOND, interval_seconds

BarSource = Literal["trade", "aggTrade", "kline"]
"""Where a guard's bars come from. One source only: a symbol subscribed to both trades and
aggregate trades (or klines) would otherwise count its volume twice."""


class Bar:
    """One bar of `interval` starting at `start` (ns). Prices and volume are floats: guards measure
    ratios, they never do money arithmetic.

    `complete` is False for a bar the guard saw only part of (the first one after start-up, which
    began before the guard was listening); baselines skip such bars. `trade_count` is None for a
    kline whose source had no trade count (no guard relies on it; it stays unknown, not 0).
    """

    __slots__ = ("close", "complete", "high", "low", "open", "start", "trade_count", "volume")

    def __init__(self, start: int, price: float, complete: bool) -> None:
        self.start = start
        self.open = self.high = self.low = self.close = price
        self.volume = 0.0
        self.trade_count: int | None = 0
        self.complete = complete

    def __repr__(self) -> str:
        return (f"Bar(start={self.start}, o={self.open}, h={self.high}, l={self.low}, c={self.close}, "
                f"v={self.volume}, n={self.trade_count}, complete={self.complete})")


class BarBuilder:
    """Builds bars of `interval_ns` from one source and calls `on_close(bar)` for each closed bar.

    A silent stretch between two events yields empty bars (volume 0, price unchanged): a minute
    with no trades is information (a market gone quiet). At most `max_empty_bars` are emitted for
    one gap, since guards only look back that far.

    A trade stamped in an already closed bar (possible when another stream's clock moved the
    builder on) is added to the forming bar's volume rather than dropped.
    """

    def __init__(self, interval_ns: int, source: BarSource, on_close: Callable[[Bar], None], max_empty_bars: int) -> None:
        self.interval_ns = interval_ns
        self.source = source
        self.on_close = on_close
        self.max_empty_bars = max_empty_bars
        self.current: Bar | None = None
        self.last_price = 0.0

    def observe(self, event: MarketEvent) -> bool:
        """Feed an event; returns True when it was a source event (a trade or kline of this source)."""
        kind = type(event)
        if self.source == "trade" and kind is Trade or self.source == "aggTrade" and kind is AggTrade:
            self.add_trade(event.ts_trade, float(event.price), float(event.quantity))  # type: ignore[attr-defined]
            return True
        if self.source == "kline" and kind is Kline:
            self.add_kline(event)  # type: ignore[arg-type]
            return True
        return False

    def add_trade(self, ts: int, price: float, quantity: float) -> None:
        start = ts - ts % self.interval_ns
        bar = self.current
        if bar is None:
            bar = self.current = Bar(start, price, complete=start == ts)
        elif start > bar.start:
            self._close_until(start)
            bar = self.current = Bar(start, price, complete=True)
        elif start == bar.start:
            if price > bar.high:
                bar.high = price
            elif price < bar.low:
                bar.low = price
            bar.close = price
        # else: a late trade; counted in the forming bar's volume only (see the class docstring).
        bar.volume += quantity
        bar.trade_count += 1  # type: ignore[operator]  # a trade-built bar always has a count
        self.last_price = price

    def add_kline(self, kline: Kline) -> None:
        if not kline.is_closed or interval_seconds(kline.interval) != self.interval_ns // SECOND:
            return
        if self.current is not None and kline.open_time <= self.current.start:
            return  # a repeat or an older bar
        if self.current is not None:
            self._close_until(kline.open_time)
        bar = Bar(kline.open_time, float(kline.open), complete=True)
        bar.high, bar.low, bar.close = float(kline.high), float(kline.low), float(kline.close)
        bar.volume, bar.trade_count = float(kline.volume), kline.trade_count
        self.last_price = bar.close
        self.on_close(bar)
        # Klines arrive closed: there is no forming bar; the last closed one marks where we are.
        self.current = bar

    def advance(self, ts: int) -> None:
        """Close every bar that ended by `ts` (a clock tick from another stream of the symbol), so
        a minute without trades is seen as one, not silently skipped."""
        bar = self.current
        if bar is None or self.source == "kline":
            return
        start = ts - ts % self.interval_ns
        if start > bar.start:
            self._close_until(start)
            self.current = Bar(start, bar.close, complete=True)

    def _close_until(self, start: int) -> None:
        """Close the forming bar and emit empty bars up to (not including) the one at `start`."""
        bar = self.current
        assert bar is not None
        if self.source != "kline":
            self.on_close(bar)
        missing = (start - bar.start) // self.interval_ns - 1
        first_empty = max(bar.start + self.interval_ns, start - self.max_empty_bars * self.interval_ns)
        for empty_start in range(first_empty, start, self.interval_ns) if missing > 0 else ():
            self.on_close(Bar(empty_start, bar.close, complete=True))
