"""Settings of the market scanner: how often it refreshes, what it calls risky, anomalous or a
signal, and which pairs make the dynamic pair list.

Every threshold is here, with its default and the reason for it, so the rules in
`bot.scanner.metrics` and `bot.scanner.scan` hold no magic numbers. Percentages are percent
(`30` is 30 %), spreads are basis points (`100` is 1 %), volumes are in the quote asset.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class AnomalyThresholds(_Frozen):
    """When a market looks broken or dangerous. The worst rule that fires sets the level.

    CRITICAL: no trade in 24 h (a delisted or halted pair; Binance still lists it with zeros),
              or a crossed book (best bid >= best ask: data that cannot be true).
    HIGH:     |24 h change| >= extreme_move_pct, an empty side of the book (bid or ask 0),
              spread >= huge_spread_bps, or quote volume below dead_volume_quote.
    MODERATE: |24 h change| >= large_move_pct, or spread >= wide_spread_bps.
    LOW:      |24 h change| >= notable_move_pct.
    """

    extreme_move_pct: Decimal = Field(default=Decimal(30), gt=0)
    large_move_pct: Decimal = Field(default=Decimal(15), gt=0)
    notable_move_pct: Decimal = Field(default=Decimal(8), gt=0)
    huge_spread_bps: Decimal = Field(default=Decimal(200), gt=0)
    wide_spread_bps: Decimal = Field(default=Decimal(50), gt=0)
    # Below about 1,000 USDT a day a single small order moves the price: nothing to trade.
    dead_volume_quote: Decimal = Field(default=Decimal(1000), ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> AnomalyThresholds:
        if not self.notable_move_pct <= self.large_move_pct <= self.extreme_move_pct:
            raise ValueError(
                "notable_move_pct <= large_move_pct <= extreme_move_pct must hold, got "
                f"{self.notable_move_pct}, {self.large_move_pct}, {self.extreme_move_pct}"
            )
        if not self.wide_spread_bps <= self.huge_spread_bps:
            raise ValueError(
                f"wide_spread_bps ({self.wide_spread_bps}) must not exceed huge_spread_bps ({self.huge_spread_bps})"
            )
        return self


class RiskModel(_Frozen):
    """The composite risk score, 0 (calm, tight, deep) to 100 (wild, wide, thin):

        risk = 0.4 * volatility + 0.3 * spread + 0.3 * illiquidity, rounded to 0.01

    volatility  = 100 * min(range_pct / volatility_cap_pct, 1)
    spread      = 100 * min(spread_bps / spread_cap_bps, 1); 100 when the book is unusable
    illiquidity = 100 * clamp((log10(ceiling) - log10(quote_volume)) / (log10(ceiling) - log10(floor)), 0, 1);
                  100 when there was no volume

    Volatility weighs most because it is what moves a position against us; spread and depth are
    the cost of getting in and out. Liquidity is logarithmic: 1 M against 10 M matters as much as
    10 k against 100 k.
    """

    volatility_cap_pct: Decimal = Field(default=Decimal(30), gt=0)
    spread_cap_bps: Decimal = Field(default=Decimal(100), gt=0)
    liquidity_floor_quote: Decimal = Field(default=Decimal(10_000), gt=0)
    liquidity_ceiling_quote: Decimal = Field(default=Decimal(100_000_000), gt=0)

    @model_validator(mode="after")
    def _floor_below_ceiling(self) -> RiskModel:
        if not self.liquidity_floor_quote < self.liquidity_ceiling_quote:
            raise ValueError(
                f"liquidity_floor_quote ({self.liquidity_floor_quote}) must be below "
                f"liquidity_ceiling_quote ({self.liquidity_ceiling_quote})"
            )
        return self


class SignalRules(_Frozen):
    """From momentum, where the last price sits in the day's range (0 = at the low, 1 = at the
    high) and risk:

    HOLD         when the anomaly level is HIGH or worse, risk > max_risk, or the range is empty;
    STRONG_BUY   change >= strong_momentum_pct and position >= strong_position, risk <= strong_max_risk;
    BUY          change >= momentum_pct and position >= position;
    STRONG_SELL  change <= -strong_momentum_pct and position <= 1 - strong_position, risk <= strong_max_risk;
    SELL         change <= -momentum_pct and position <= 1 - position;
    HOLD         otherwise. A strong case above strong_max_risk is a plain BUY / SELL.

    The position test asks whether the move held: a coin up 12 % that closes at the day's low has
    already given the move back.
    """

    momentum_pct: Decimal = Field(default=Decimal(3), gt=0)
    strong_momentum_pct: Decimal = Field(default=Decimal(10), gt=0)
    position: Decimal = Field(default=Decimal("0.6"), ge=Decimal("0.5"), le=1)
    strong_position: Decimal = Field(default=Decimal("0.8"), ge=Decimal("0.5"), le=1)
    max_risk: Decimal = Field(default=Decimal(70), ge=0, le=100)
    strong_max_risk: Decimal = Field(default=Decimal(50), ge=0, le=100)

    @model_validator(mode="after")
    def _strong_is_stricter(self) -> SignalRules:
        if self.strong_momentum_pct < self.momentum_pct:
            raise ValueError(
                f"strong_momentum_pct ({self.strong_momentum_pct}) must be at least momentum_pct ({self.momentum_pct})"
            )
        if self.strong_position < self.position:
            raise ValueError(f"strong_position ({self.strong_position}) must be at least position ({self.position})")
        return self


class PairFilters(_Frozen):
    """Which scanned pairs make the dynamic pair list (sorted by quote volume, largest first).

    The defaults keep pairs that trade at least 1 M quote a day with a spread under 0.2 %,
    and drop any with a HIGH or CRITICAL anomaly.
    """

    min_quote_volume: Decimal = Field(default=Decimal(1_000_000), ge=0)
    max_spread_bps: Decimal = Field(default=Decimal(20), gt=0)
    exclude_high_anomalies: bool = True
    max_pairs: int = Field(default=30, ge=1, le=1024)


class ScannerSettings(_Frozen):
    """refresh_interval_seconds: one all-symbols 24 h ticker costs 80 of the 6,000 request weight
    a minute; once a minute is 1.3 % of the budget and fresh enough for 24 h statistics.
    failure_backoff_max_seconds: the longest wait after repeated failed refreshes.
    top_n: how many gainers and losers the summary keeps.
    quote_asset: the scanner looks at pairs quoted in this asset only.
    """

    # Run the scanner in the daemon (off unless configured; the shipped file turns it on).
    enabled: bool = False
    # At start-up, trade the scanner's dynamic pair list (pair_filters) instead of ingest.symbols,
    # plus any symbol the ledger still holds a position in. Chosen once per start.
    select_symbols: bool = False
    refresh_interval_seconds: float = Field(default=60.0, gt=0)
    failure_backoff_max_seconds: float = Field(default=600.0, gt=0)
    top_n: int = Field(default=10, ge=1, le=500)
    quote_asset: str = Field(default="USDT", pattern=r"^[A-Z0-9]{2,10}$")
    anomaly: AnomalyThresholds = Field(default_factory=AnomalyThresholds)
    risk: RiskModel = Field(default_factory=RiskModel)
    signal: SignalRules = Field(default_factory=SignalRules)
    pair_filters: PairFilters = Field(default_factory=PairFilters)
