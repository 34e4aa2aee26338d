"""Order, duplicates and gaps within one channel (one symbol, one kind of event).

Every Binance channel has a number that only grows: trade ids, aggregate trade ids, depth `u`,
bookTicker `u`, kline open times, ticker event times. For the channels whose numbers are also
contiguous (trade and aggregate trade ids step by 1, closed klines by their interval) a jump
means data was lost, and the jump is exactly the range to fetch again over REST.

Pure logic: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from operator import attrgetter

from bot.domain.events import (
    MILLISECONDS,
    SEQUENCE_FIELDS,
    DepthUpdate,
    DepthUpdateText,
    EventKind,
    MarketEvent,
)

_INTERVAL_UNITS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def interval_ns(interval: str) -> int | None:
    """Length of a kline interval in ns; None for '1M', whose months differ in length."""
    unit = interval[-1]
    if unit == "M" or unit not in _INTERVAL_UNITS_MS:
        return None
    return int(interval[:-1]) * _INTERVAL_UNITS_MS[unit] * MILLISECONDS


class Outcome(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"
    GAP = "gap"


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing sequence numbers `first`..`last`, inclusive, in a channel."""

    symbol: str
    channel: str
    first: int
    last: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1


class Sequencer:
    """Tracks the last sequence number accepted in one channel.

    `step` is the distance between consecutive numbers for contiguous channels, or None when the
    numbers only grow (bookTicker, tickers) and a jump says nothing.
    """

    def __init__(self, symbol: str, channel: str, step: int | None, last: int | None = None) -> None:
        self.symbol = symbol
        self.channel = channel
        self.step = step
        self.last = last
        # `event.sequence` read straight from its field (a C call, not a property) where the
        # channel tells which field it is.
        self._number = attrgetter(SEQUENCE_FIELDS.get(channel, "sequence"))

    def advance(self, event: MarketEvent) -> bool:
        """Accepts the event and returns True if it is simply the next one (NEW, no gap); else
        changes nothing and returns False, and `check` tells what it is. The common case of
        every message, without building a verdict."""
        last = self.last
        if event.kind is EventKind.DEPTH_UPDATE:
            final = event.final_update_id  # type: ignore[attr-defined]
            if last is not None and not (final > last and event.first_update_id <= last + 1):  # type: ignore[attr-defined]
                return False
            self.last = final
            return True
        number = self._number(event)
        if last is not None and not (last < number and (self.step is None or number <= last + self.step)):
            return False
        self.last = number
        return True

    def check(self, event: MarketEvent) -> tuple[Outcome, Gap | None]:
        if event.kind is EventKind.DEPTH_UPDATE:
            return self._check_depth(event)  # type: ignore[arg-type]
        number = event.sequence  # type: ignore[attr-defined]
        if self.last is not None and number <= self.last:
            return Outcome.DUPLICATE, None
        if self.last is not None and self.step is not None and number > self.last + self.step:
            return Outcome.GAP, Gap(self.symbol, self.channel, self.last + self.step, number - self.step)
        return Outcome.NEW, None

    def _check_depth(self, event: DepthUpdate | DepthUpdateText) -> tuple[Outcome, Gap | None]:
        # Depth diffs cover ranges U..u; a diff starting past last+1 lost updates in between.
        if self.last is not None and event.final_update_id <= self.last:
            return Outcome.DUPLICATE, None
        if self.last is not None and event.first_update_id > self.last + 1:
            return Outcome.GAP, Gap(self.symbol, self.channel, self.last + 1, event.first_update_id - 1)
        return Outcome.NEW, None

    def accept(self, event: MarketEvent) -> None:
        self.last = event.sequence  # type: ignore[attr-defined]


def sequencer_for(symbol: str, channel: str, last: int | None = None) -> Sequencer:
    """The sequencer that fits a channel name ('trade', 'aggTrade', 'kline_1m', ...)."""
    if channel in ("trade", "aggTrade"):
        return Sequencer(symbol, channel, 1, last)
    if channel.startswith("kline_"):
        return Sequencer(symbol, channel, interval_ns(channel.removeprefix("kline_")), last)
    if channel == "depthUpdate":
        return Sequencer(symbol, channel, 1, last)
    return Sequencer(symbol, channel, None, last)

