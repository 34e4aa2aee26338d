"""Which side of a line a series is on, and when it changes side.

A cross is a change of sign of (series - line). Touching the line (difference exactly 0) keeps
the remembered side, so below -> equal -> below is no cross and below -> equal -> above is one
cross, reported on the bar that ends above. The first side seen after warm-up is not a cross:
nothing was known before it.
"""

from __future__ import annotations


class CrossDetector:
    def __init__(self) -> None:
        self.side = 0  # -1 below, +1 above, 0 not known yet

    def update(self, difference: float) -> int:
        """+1 on the update that crosses up, -1 on the one that crosses down, else 0."""
        side = (difference > 0.0) - (difference < 0.0)
        if side == 0:
            return 0
        previous, self.side = self.side, side
        if previous == 0 or previous == side:
            return 0
        return side
