"""Per-bar features read straight off the bar: order flow share, trade count, time of day/week.

Times come from the bar's open time (integer milliseconds since the Unix epoch, UTC): never from
a clock, so a replay gives the same values.
"""

from __future__ import annotations

_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; Monday = 0


def hour_of_day(open_time_ms: int) -> int:
    """The UTC hour (0..23) the bar opened in."""
    return open_time_ms // _HOUR_MS % 24


def day_of_week(open_time_ms: int) -> int:
    """The UTC weekday the bar opened on, 0 = Monday .. 6 = Sunday (Python's `weekday()`)."""
    return (open_time_ms // _DAY_MS + _EPOCH_WEEKDAY) % 7
