"""Closed bars built from trades, for intervals Binance does not stream (e.g. "5s") or to build
bars from our own trade record.

A bar covers [open_time, open_time + interval) of trade time (`ts_trade`), aligned to multiples
of the interval since the epoch. It closes when a trade of a later interval arrives, or when
`advance(now_ns)` says the clock has passed its end, so a quiet market still closes bars.

Decisions:
- Intervals without trades produce a bar, as Binance does: open = high = low = close = the
  previous close, all volumes 0, trade_count 0, first/last trade id -1. Before the first trade
  there is no price, so no bar.
- `close_delay_ns` lets the clock wait a little past a boundary before `advance` closes a bar,
  because trades stamped just before the boundary may still be on the wire.
- A trade whose interval was already closed (it came later than the delay) cannot change a
  published bar: it is dropped and counted in `late_trades`. A trade id at or below the last seen
  is a re-delivery: dropped and counted in `duplicate_trades`.
- Volumes are exact Decimal sums (a context that traps any rounding), so quote volume is the
  exact sum of price * quantity, with more decimals than Binance's own (rounded) figure.
- `ts_event` of a bar is its close time; `ts_init` is that of the trade (or `now_ns` of the
  clock) that closed it, so a replay of the same input gives the same bars.
"""

from __future__ import annotations

from decimal import Context, Decimal, Inexact, InvalidOperation, Rounded

from bot.domain.events import MILLISECONDS, AggTrade, Kline, Trade
from bot.features.intervals import interval_nanoseconds

_EXACT = Context(prec=100, traps=[Inexact, Rounded, InvalidOperation])
_ZERO = Decimal(0)
NO_TRADE_ID = -1


class _Accumulator:
    """The trades of one interval so far."""

    __slots__ = (
        "close",
        "count",
        "first_id",
        "high",
        "last_id",
        "low",
        "open",
        "quote_volume",
        "taker_base",
        "taker_quote",
        "volume",
    )

    def __init__(self, previous_close: Decimal) -> None:
        self.open = self.high = self.low = self.close = previous_close
        self.volume = self.quote_volume = self.taker_base = self.taker_quote = _ZERO
        self.count = 0
        self.first_id = self.last_id = NO_TRADE_ID

    def add(self, trade: Trade | AggTrade, first_id: int, last_id: int) -> None:
        price, quantity = trade.price, trade.quantity
        if self.count == 0:
            self.open = self.high = self.low = price
            self.first_id = first_id
        elif price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.close = price
        self.last_id = last_id
        self.count += last_id - first_id + 1  # an aggregate trade stands for several trades
        quote = _EXACT.multiply(price, quantity)
        self.volume = _EXACT.add(self.volume, quantity)
        self.quote_volume = _EXACT.add(self.quote_volume, quote)
        if not trade.buyer_is_maker:  # the taker bought
            self.taker_base = _EXACT.add(self.taker_base, quantity)
            self.taker_quote = _EXACT.add(self.taker_quote, quote)


class TradeBarBuilder:
    def __init__(self, symbol: str, interval: str, close_delay_ns: int = 0) -> None:
        if close_delay_ns < 0:
            raise ValueError(f"close_delay_ns must not be negative, got {close_delay_ns}")
        self.symbol = symbol
        self.interval = interval
        self.interval_ns = interval_nanoseconds(interval)
        self.close_delay_ns = close_delay_ns
        self.late_trades = 0
        self.duplicate_trades = 0
        self._open_time: int | None = None  # of the bar being formed
        self._bar: _Accumulator | None = None
        self._last_trade_id: int | None = None

    def update(self, trade: Trade | AggTrade) -> list[Kline]:
        """Add a trade (or an aggregate trade: the trades it stands for); returns the bars it
        closed (oldest first, empty intervals included)."""
        if trade.symbol != self.symbol:
            raise ValueError(f"bar builder for {self.symbol} got a {trade.symbol} trade")
        if type(trade) is Trade:
            first_id = last_id = trade.trade_id
        else:
            first_id, last_id = trade.first_trade_id, trade.last_trade_id
        if self._last_trade_id is not None and first_id <= self._last_trade_id:
            self.duplicate_trades += 1
            return []
        self._last_trade_id = last_id
        open_time = trade.ts_trade - trade.ts_trade % self.interval_ns
        if self._open_time is None or self._bar is None:
            self._open_time, self._bar = open_time, _Accumulator(trade.price)
        elif open_time < self._open_time:
            self.late_trades += 1
            return []
        closed = self._close_before(open_time, trade.ts_init)
        self._bar.add(trade, first_id, last_id)
        return closed

    def advance(self, now_ns: int) -> list[Kline]:
        """Close every bar that ended at least `close_delay_ns` before `now_ns`."""
        if self._open_time is None:
            return []
        cutoff = now_ns - self.close_delay_ns
        return self._close_before(cutoff - cutoff % self.interval_ns, now_ns)

    @property
    def forming(self) -> Kline | None:
        """The bar being formed, as an open (is_closed=False) kline with ts_init 0, or None before
        any trade."""
        if self._open_time is None or self._bar is None:
            return None
        return self._kline(self._open_time, self._bar, ts_init=0, closed=False)

    def _close_before(self, open_time: int, ts_init: int) -> list[Kline]:
        """Close the forming bar and empty ones after it until the bar opening at `open_time`."""
        closed: list[Kline] = []
        assert self._open_time is not None and self._bar is not None
        while self._open_time < open_time:
            closed.append(self._kline(self._open_time, self._bar, ts_init, closed=True))
            self._bar = _Accumulator(self._bar.close)
            self._open_time += self.interval_ns
        return closed

    def _kline(self, open_time: int, bar: _Accumulator, ts_init: int, closed: bool) -> Kline:
        # Binance's close time is the last millisecond of the interval.
        close_time = open_time + self.interval_ns - MILLISECONDS
        return Kline(
            symbol=self.symbol, ts_event=close_time, ts_init=ts_init, interval=self.interval,
            open_time=open_time, close_time=close_time, open=bar.open, high=bar.high, low=bar.low,
            close=bar.close, volume=bar.volume, quote_volume=bar.quote_volume, trade_count=bar.count,
            taker_buy_base_volume=bar.taker_base, taker_buy_quote_volume=bar.taker_quote,
            first_trade_id=bar.first_id, last_trade_id=bar.last_id, is_closed=closed,
        )
