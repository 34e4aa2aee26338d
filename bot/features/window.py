"""Exact-rounded window statistics shared by the incremental calculators and the batch reference.

Sums use `math.fsum` (correctly rounded) over the window instead of a running total: a running
total drifts by a few ulps per bar and after thousands of bars live and batch values would no
longer agree to 1e-9. Windows are at most a few hundred values and are summed once per closed
bar, so the cost does not matter.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def population_std(values: Sequence[float]) -> float:
    """Standard deviation over the window itself (ddof=0: TA-Lib's STDDEV and BBANDS, numpy's
    default), two-pass (deviations from an fsum mean, summed with fsum) rather than TA-Lib's
    mean-of-squares minus square-of-mean, which cancels catastrophically when the spread is
    small next to the level (a 20-bar std of a few dollars on a 110,000 dollar price)."""
    centre = mean(values)
    return math.sqrt(math.fsum((value - centre) ** 2 for value in values) / len(values))


def require_period(period: int, minimum: int = 1) -> int:
    if isinstance(period, bool) or not isinstance(period, int) or period < minimum:
        raise ValueError(f"period must be an integer of at least {minimum}, got {period!r}")
    return period


def finite(values: Iterable[float]) -> None:
    """Refuse NaN and infinities at the door: one would poison every later value silently."""
    for value in values:
        if not math.isfinite(value):
            raise ValueError(f"feature input must be a finite number, got {value!r}")
