"""Bar intervals ("1s", "5s", "1m", "4h", "1d") as integer nanoseconds.

Bars are aligned to multiples of the interval since the Unix epoch, as Binance aligns its
klines. Weeks ("1w": Binance starts them on Monday, the epoch was a Thursday) and months ("1M")
are not fixed multiples of the epoch, so they are refused rather than built wrongly.
"""

from __future__ import annotations

import re

_UNIT_NANOSECONDS = {
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
}
_INTERVAL_TEXT = re.compile(r"([1-9][0-9]{0,3})([smhd])")


def interval_nanoseconds(interval: str) -> int:
    """Nanoseconds in `interval`; ValueError naming the accepted forms otherwise."""
    match = _INTERVAL_TEXT.fullmatch(interval) if isinstance(interval, str) else None
    if match is None:
        raise ValueError(
            f"expected a bar interval: a count and a unit s, m, h or d (e.g. '1s', '5s', '1m', '4h'), got {interval!r}"
        )
    return int(match.group(1)) * _UNIT_NANOSECONDS[match.group(2)]
