"""Redis key names, in one place. docs/redis-layout.md describes the same layout for people."""

from __future__ import annotations

from bot.domain.events import Kline, MarketEvent


def channel_of(event: MarketEvent) -> str:
    """The per-symbol channel an event belongs to: its kind, with the interval for klines."""
    if isinstance(event, Kline):
        return f"kline_{event.interval}"
    return event.kind.value


class RedisKeys:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def stream(self, channel: str, symbol: str) -> str:
        """The durable, ordered record of one channel, e.g. `tradebot:stream:trade:BTCUSDT`."""
        return f"{self.namespace}:stream:{channel}:{symbol}"

    def latest(self, channel: str, symbol: str) -> str:
        """A hash holding the newest event of a channel (for klines: the still-open bar too)."""
        return f"{self.namespace}:latest:{channel}:{symbol}"

    def book(self, symbol: str) -> str:
        """A hash with the top of the locally rebuilt order book."""
        return f"{self.namespace}:book:{symbol}"

    def meta(self) -> str:
        """A hash describing the namespace itself: `venue`, the exchange whose record it holds."""
        return f"{self.namespace}:meta"

    def gaps(self) -> str:
        """A stream auditing every gap found in the market data and how it was repaired."""
        return f"{self.namespace}:ingest:gaps"

