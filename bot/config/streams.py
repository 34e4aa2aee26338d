"""The Binance names the settings are checked against.

They live here, not in the ingest code, because settings are validated before any ingest code runs
and a typo in a stream name should stop start-up, not surface as a silent empty subscription.
"""

from __future__ import annotations

# Binance spot kline intervals as spelt in stream names (1m is a minute, 1M a month).
KLINE_INTERVALS: tuple[str, ...] = (
    "1s", "1m", "3m", "5m", "15m", "30m",
    "1h", "2h", "4h", "6h", "8h", "12h",
    "1d", "3d", "1w", "1M",
)  # fmt: skip

# Per-symbol stream kinds we know how to ingest; a subscription is "<symbol lower-case>@<kind>".
STREAM_KINDS: frozenset[str] = frozenset(
    {"trade", "aggTrade", "bookTicker", "depth", "depth@100ms", "ticker", "miniTicker"}
    | {f"kline_{interval}" for interval in KLINE_INTERVALS}
)

# Event kinds as stored in Redis, one stream per symbol and kind, each trimmed to its own length.
# A few hours of a busy symbol's trades is about a million entries; the slower kinds need less.
DEFAULT_STREAM_MAX_LENGTH: dict[str, int] = {
    "trade": 1_000_000,
    "aggTrade": 1_000_000,
    "kline": 200_000,
    "bookTicker": 200_000,
    "depthUpdate": 200_000,
    "ticker": 100_000,
    "miniTicker": 100_000,
}


def describe_stream_kinds() -> str:
    """A short human list for error messages (the 16 kline intervals would drown the rest)."""
    plain = sorted(kind for kind in STREAM_KINDS if not kind.startswith("kline_"))
    return ", ".join(plain) + ", kline_<interval> with interval one of " + " ".join(KLINE_INTERVALS)
