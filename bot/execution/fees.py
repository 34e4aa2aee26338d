"""Trading fee settings: what a fill costs, in basis points of its notional, charged in the quote asset."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from bot.domain.trading import Liquidity

BASIS_POINTS = Decimal(10_000)

# At most 10%: any larger figure is a typo (percent written as basis points), not a fee.
FeeBps = Annotated[Decimal, Field(ge=0, le=1000)]


class FeeSettings(BaseModel):
    """Binance's regular spot fee is 0.1% for both sides (10 bps), before BNB or VIP discounts."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    taker_bps: FeeBps = Decimal(10)
    maker_bps: FeeBps = Decimal(10)

    def rate(self, liquidity: Liquidity) -> Decimal:
        bps = self.taker_bps if liquidity is Liquidity.TAKER else self.maker_bps
        return bps / BASIS_POINTS

    @property
    def highest_rate(self) -> Decimal:
        """What a resting order must hold back for its fee: it may fill as taker or maker."""
        return max(self.taker_bps, self.maker_bps) / BASIS_POINTS
