"""The feature spec: which features exist, with which parameters, under which version.

The live engine computes these incrementally with `FeatureSet`; the nightly Spark job imports
the same spec and re-implements each kind, and a model's manifest records `FEATURE_SPEC.version`
and `FEATURE_SPEC.fingerprint` so a model trained on other features is refused at load time.
Change a definition -> bump `version` (the fingerprint changes by itself, and a test pins it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from enum import StrEnum

import msgspec

from bot.domain.events import Kline
from bot.features.averages import ExponentialMovingAverage, SimpleMovingAverage
from bot.features.rolling import (
    HighestHigh,
    LogReturn,
    LowestLow,
    RollingVolatility,
    TakerBuyRatio,
    VolumeZScore,
)
from bot.features.wilder import AverageTrueRange, RelativeStrengthIndex


class FeatureKind(StrEnum):
    SMA = "sma"  # of closes
    EMA = "ema"  # of closes, SMA-seeded
    RSI = "rsi"  # Wilder, of closes
    ATR = "atr"  # Wilder
    HIGHEST_HIGH = "highest_high"  # of highs, current bar included
    LOWEST_LOW = "lowest_low"  # of lows, current bar included
    LOG_RETURN = "log_return"  # ln(close / previous close); takes no period
    VOLATILITY = "volatility"  # sample std of `period` log returns
    VOLUME_ZSCORE = "volume_zscore"  # of base volume, current bar included
    # Mean of taker_buy_base_volume / volume, current bar included; a zero-volume bar counts 0.5;
    # None from a bar without taker data until `period` bars with data follow (see TakerBuyRatio).
    TAKER_BUY_RATIO = "taker_buy_ratio"


class FeatureDefinition(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    kind: FeatureKind
    period: int | None = None


class FeatureSpec(msgspec.Struct, frozen=True, kw_only=True):
    version: str
    definitions: tuple[FeatureDefinition, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(definition.name for definition in self.definitions)

    @property
    def fingerprint(self) -> str:
        """A digest of the canonical JSON of the spec: catches an edit nobody versioned."""
        return hashlib.sha256(msgspec.json.encode(self)).hexdigest()[:16]


FEATURE_SPEC = FeatureSpec(
    version="2",
    definitions=(
        FeatureDefinition(name="sma_20", kind=FeatureKind.SMA, period=20),
        FeatureDefinition(name="ema_12", kind=FeatureKind.EMA, period=12),
        FeatureDefinition(name="ema_26", kind=FeatureKind.EMA, period=26),
        FeatureDefinition(name="rsi_14", kind=FeatureKind.RSI, period=14),
        FeatureDefinition(name="atr_14", kind=FeatureKind.ATR, period=14),
        FeatureDefinition(name="highest_high_20", kind=FeatureKind.HIGHEST_HIGH, period=20),
        FeatureDefinition(name="lowest_low_20", kind=FeatureKind.LOWEST_LOW, period=20),
        FeatureDefinition(name="log_return", kind=FeatureKind.LOG_RETURN),
        FeatureDefinition(name="volatility_20", kind=FeatureKind.VOLATILITY, period=20),
        FeatureDefinition(name="volume_zscore_20", kind=FeatureKind.VOLUME_ZSCORE, period=20),
        FeatureDefinition(name="taker_buy_ratio_20", kind=FeatureKind.TAKER_BUY_RATIO, period=20),
    ),
)


class BarInputs(msgspec.Struct, frozen=True, gc=False):
    """A closed bar's numbers as floats: converted once per bar, shared by every feature.
    `taker_buy_base_volume` is None when the bar's source had no taker column."""

    high: float
    low: float
    close: float
    volume: float
    taker_buy_base_volume: float | None

    @classmethod
    def of(cls, bar: Kline) -> BarInputs:
        taker = bar.taker_buy_base_volume
        return cls(
            float(bar.high), float(bar.low), float(bar.close), float(bar.volume), None if taker is None else float(taker)
        )


Updater = Callable[[BarInputs], float | None]


def _updater(definition: FeatureDefinition) -> Updater:
    kind, period = definition.kind, definition.period
    if kind is FeatureKind.LOG_RETURN:
        log_return = LogReturn()
        return lambda inputs: log_return.update(inputs.close)
    if period is None:
        raise ValueError(f"feature {definition.name}: kind {kind} needs a period")
    if kind is FeatureKind.ATR:
        atr = AverageTrueRange(period)
        return lambda inputs: atr.update(inputs.high, inputs.low, inputs.close)
    by_close = {
        FeatureKind.SMA: SimpleMovingAverage,
        FeatureKind.EMA: ExponentialMovingAverage,
        FeatureKind.RSI: RelativeStrengthIndex,
        FeatureKind.VOLATILITY: RollingVolatility,
    }
    if kind in by_close:
        calculator = by_close[kind](period)
        return lambda inputs: calculator.update(inputs.close)
    if kind is FeatureKind.HIGHEST_HIGH:
        highest = HighestHigh(period)
        return lambda inputs: highest.update(inputs.high)
    if kind is FeatureKind.LOWEST_LOW:
        lowest = LowestLow(period)
        return lambda inputs: lowest.update(inputs.low)
    if kind is FeatureKind.VOLUME_ZSCORE:
        volume_zscore = VolumeZScore(period)
        return lambda inputs: volume_zscore.update(inputs.volume)
    if kind is FeatureKind.TAKER_BUY_RATIO:
        taker_buy_ratio = TakerBuyRatio(period)
        return lambda inputs: taker_buy_ratio.update(inputs.taker_buy_base_volume, inputs.volume)
    raise ValueError(f"feature {definition.name}: unknown kind {kind!r}")


class FeatureSet:
    """Every feature of a spec for one symbol and interval, updated one closed bar at a time.

    Bars must arrive closed and in order: an open, repeated or older bar raises, because folding
    it in would corrupt every window silently.
    """

    def __init__(self, spec: FeatureSpec = FEATURE_SPEC) -> None:
        names = spec.names
        if len(set(names)) != len(names):
            raise ValueError(f"feature spec {spec.version} repeats a name: {names}")
        self.spec = spec
        self._updaters = [(definition.name, _updater(definition)) for definition in spec.definitions]
        self._last_open_time: int | None = None
        self.values: dict[str, float | None] = {name: None for name in names}

    def update(self, bar: Kline) -> dict[str, float | None]:
        if not bar.is_closed:
            raise ValueError(f"{bar.symbol} {bar.interval} bar at {bar.open_time} is not closed")
        if self._last_open_time is not None and bar.open_time <= self._last_open_time:
            raise ValueError(
                f"{bar.symbol} {bar.interval} bar at {bar.open_time} is not after the last one "
                f"({self._last_open_time})"
            )
        self._last_open_time = bar.open_time
        inputs = BarInputs.of(bar)
        self.values = {name: update(inputs) for name, update in self._updaters}
        return self.values
