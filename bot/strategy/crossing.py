"""When a series crosses a line: the rule every crossing strategy uses, and the README states.

Up-cross on bar t: series[t] > line[t] and series[t-1] <= line[t-1]. Down-cross: series[t] <
line[t] and series[t-1] >= line[t-1]. So below -> equal -> above crosses up on the bar that
ends above, and so does above -> equal -> above (the touch counted as "not above"): the rule
vectorised backtesters apply, stated once here so every strategy and the oracle test agree. The
first bar after warm-up has no previous bar and is never a cross.
"""

from __future__ import annotations

from decimal import Decimal


class CrossDetector:
    def __init__(self) -> None:
        self.side: int | None = None  # sign of the last difference: -1, 0, +1; None before the first

    def update(self, difference: float | Decimal) -> int:
        """+1 on the update that crosses up, -1 on the one that crosses down, else 0. Pass the
        difference exactly (e.g. of Decimal sums) where ties matter: its sign is all that counts."""
        side = (difference > 0) - (difference < 0)
        previous, self.side = self.side, side
        if previous is None:
            return 0
        if side > 0 >= previous:
            return 1
        if side < 0 <= previous:
            return -1
        return 0
