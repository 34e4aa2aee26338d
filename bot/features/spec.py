"""The feature spec: which features exist, with which parameters, under which version.

The live engine computes these incrementally with `FeatureSet`; the nightly Spark job imports
the same spec and builds its columns from `FEATURE_SPEC.definitions` (each definition carries
every parameter its kind needs: nothing is hard-coded in a calculator), and a model's manifest
records `FEATURE_SPEC.version` and `FEATURE_SPEC.fingerprint` so a model trained on other
features is refused at load time.
Change a definition -> bump `version` (the fingerprint changes by itself, and a test pins it).

Version 3 follows TA-Lib's standard definitions (ROCR, SMA, EMA, MACD, RSI, ATR, BBANDS,
STDDEV); after 1,000 bars of warm-up the values match TA-Lib's to 1e-9 relative.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from enum import StrEnum

import msgspec

from bot.domain.events import MILLISECONDS, Kline
from bot.features.averages import (
    ExponentialMovingAverage,
    MovingAverageConvergenceDivergence,
    SimpleMovingAverage,
)
from bot.features.bands import BollingerBands
from bot.features.bar_time import day_of_week, hour_of_day
from bot.features.rolling import (
    LogReturn,
    PeriodReturn,
    RollingVolatility,
    VolumeZScore,
    taker_buy_share,
)
from bot.features.wilder import AverageTrueRange, RelativeStrengthIndex


class FeatureKind(StrEnum):
    RETURN = "return"  # close / close `period` bars ago - 1 (TA-Lib ROCR - 1)
    LOG_RETURN = "log_return"  # ln(close / previous close); takes no period
    SMA = "sma"  # of closes, current bar included
    EMA = "ema"  # of closes, alpha 2/(period+1), seeded with the SMA of the first `period` closes
    # EMA(fast) - EMA(slow) of closes; `output` "macd", "signal" (EMA(`signal`) of the MACD line,
    # SMA-seeded) or "histogram" (macd - signal).
    MACD = "macd"
    RSI = "rsi"  # Wilder, of closes, seeded with the mean of the first `period` changes
    ATR = "atr"  # Wilder, first true range = high - low, seeded with the mean of `period` ranges
    # SMA(`period`) of closes +/- `deviations` * population std; `output` "upper", "middle", "lower".
    BOLLINGER = "bollinger"
    VOLATILITY = "volatility"  # population std of the last `period` one-bar log returns
    VOLUME_ZSCORE = "volume_zscore"  # population z-score of volume, current bar included; 0 if flat
    # taker_buy_base_volume / volume of this bar; 0.5 when volume is 0; None without taker data.
    TAKER_BUY_RATIO = "taker_buy_ratio"
    TRADE_COUNT = "trade_count"  # the bar's number of trades; None when the source lacks it
    HOUR_OF_DAY = "hour_of_day"  # UTC hour of the bar's open time, 0..23
    DAY_OF_WEEK = "day_of_week"  # UTC weekday of the bar's open time, 0 = Monday .. 6 = Sunday


MACD_OUTPUTS = ("macd", "signal", "histogram")
BOLLINGER_OUTPUTS = ("upper", "middle", "lower")


class FeatureDefinition(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One output column. A multi-output kind (MACD, BOLLINGER) has one definition per column,
    naming it with `output`; definitions of the same kind and parameters share one calculator.
    Parameters a kind does not use stay None (and out of the JSON, so the fingerprint only
    covers what matters)."""

    name: str
    kind: FeatureKind
    period: int | None = None  # window or lag length in bars
    fast: int | None = None  # MACD
    slow: int | None = None  # MACD
    signal: int | None = None  # MACD
    deviations: float | None = None  # BOLLINGER: band half-width in population std
    output: str | None = None  # MACD / BOLLINGER: which of the kind's outputs


class FeatureSpec(msgspec.Struct, frozen=True, kw_only=True):
    version: str
    definitions: tuple[FeatureDefinition, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The feature columns, in order (a feature table puts `open_time_ms` before them)."""
        return tuple(definition.name for definition in self.definitions)

    @property
    def fingerprint(self) -> str:
        """A digest of the canonical JSON of the spec: catches an edit nobody versioned."""
        return hashlib.sha256(msgspec.json.encode(self)).hexdigest()[:16]


def _macd(name: str, output: str) -> FeatureDefinition:
    return FeatureDefinition(name=name, kind=FeatureKind.MACD, fast=12, slow=26, signal=9, output=output)


def _bollinger(name: str, output: str) -> FeatureDefinition:
    return FeatureDefinition(name=name, kind=FeatureKind.BOLLINGER, period=20, deviations=2.0, output=output)


FEATURE_SPEC = FeatureSpec(
    version="3",
    definitions=(
        FeatureDefinition(name="ret_1", kind=FeatureKind.RETURN, period=1),
        FeatureDefinition(name="ret_5", kind=FeatureKind.RETURN, period=5),
        FeatureDefinition(name="ret_15", kind=FeatureKind.RETURN, period=15),
        FeatureDefinition(name="log_return", kind=FeatureKind.LOG_RETURN),
        FeatureDefinition(name="sma_5", kind=FeatureKind.SMA, period=5),
        FeatureDefinition(name="sma_10", kind=FeatureKind.SMA, period=10),
        FeatureDefinition(name="ema_12", kind=FeatureKind.EMA, period=12),
        FeatureDefinition(name="ema_26", kind=FeatureKind.EMA, period=26),
        _macd("macd", "macd"),
        _macd("macd_signal", "signal"),
        _macd("macd_hist", "histogram"),
        FeatureDefinition(name="rsi_14", kind=FeatureKind.RSI, period=14),
        FeatureDefinition(name="atr_14", kind=FeatureKind.ATR, period=14),
        _bollinger("bb_upper_20", "upper"),
        _bollinger("bb_middle_20", "middle"),
        _bollinger("bb_lower_20", "lower"),
        FeatureDefinition(name="volatility_60", kind=FeatureKind.VOLATILITY, period=60),
        FeatureDefinition(name="volume_zscore_60", kind=FeatureKind.VOLUME_ZSCORE, period=60),
        FeatureDefinition(name="taker_buy_ratio", kind=FeatureKind.TAKER_BUY_RATIO),
        FeatureDefinition(name="trade_count", kind=FeatureKind.TRADE_COUNT),
        FeatureDefinition(name="hour_of_day", kind=FeatureKind.HOUR_OF_DAY),
        FeatureDefinition(name="day_of_week", kind=FeatureKind.DAY_OF_WEEK),
    ),
)


class BarInputs(msgspec.Struct, frozen=True, gc=False):
    """A closed bar's numbers as floats: converted once per bar, shared by every feature.
    `taker_buy_base_volume` and `trade_count` are None when the bar's source had no such column."""

    open_time_ms: int
    high: float
    low: float
    close: float
    volume: float
    taker_buy_base_volume: float | None
    trade_count: int | None

    @classmethod
    def of(cls, bar: Kline) -> BarInputs:
        taker = bar.taker_buy_base_volume
        return cls(
            bar.open_time // MILLISECONDS, float(bar.high), float(bar.low), float(bar.close), float(bar.volume),
            None if taker is None else float(taker), bar.trade_count,
        )


def bar_feature(kind: FeatureKind, inputs: BarInputs) -> float | None:
    """The features of one bar alone (no history): shared by `FeatureSet` and the batch reference."""
    if kind is FeatureKind.TAKER_BUY_RATIO:
        taker = inputs.taker_buy_base_volume
        return None if taker is None else taker_buy_share(taker, inputs.volume)
    if kind is FeatureKind.TRADE_COUNT:
        return None if inputs.trade_count is None else float(inputs.trade_count)
    if kind is FeatureKind.HOUR_OF_DAY:
        return float(hour_of_day(inputs.open_time_ms))
    if kind is FeatureKind.DAY_OF_WEEK:
        return float(day_of_week(inputs.open_time_ms))
    raise ValueError(f"{kind} is not a per-bar feature")


PER_BAR_KINDS = frozenset({FeatureKind.TAKER_BUY_RATIO, FeatureKind.TRADE_COUNT, FeatureKind.HOUR_OF_DAY, FeatureKind.DAY_OF_WEEK})


def require_parameters(definition: FeatureDefinition) -> None:
    """Refuse a definition missing a parameter its kind needs or naming an unknown output."""
    kind = definition.kind
    needed: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    if kind in (FeatureKind.RETURN, FeatureKind.SMA, FeatureKind.EMA, FeatureKind.RSI, FeatureKind.ATR,
                FeatureKind.VOLATILITY, FeatureKind.VOLUME_ZSCORE):
        needed = ("period",)
    elif kind is FeatureKind.MACD:
        needed, outputs = ("fast", "slow", "signal"), MACD_OUTPUTS
    elif kind is FeatureKind.BOLLINGER:
        needed, outputs = ("period", "deviations"), BOLLINGER_OUTPUTS
    for parameter in needed:
        if getattr(definition, parameter) is None:
            raise ValueError(f"feature {definition.name}: kind {kind} needs a {parameter}")
    if outputs and definition.output not in outputs:
        raise ValueError(f"feature {definition.name}: kind {kind} needs an output among {outputs}, got {definition.output!r}")


Updater = Callable[[BarInputs], object]
Reader = Callable[[], float | None]


def _calculator(definition: FeatureDefinition) -> tuple[object, Updater]:
    """The calculator for a definition's kind and parameters, and how to feed it a bar."""
    kind, period = definition.kind, definition.period or 0
    if kind is FeatureKind.ATR:
        atr = AverageTrueRange(period)
        return atr, lambda inputs: atr.update(inputs.high, inputs.low, inputs.close)
    if kind is FeatureKind.MACD:
        assert definition.fast is not None and definition.slow is not None and definition.signal is not None
        macd = MovingAverageConvergenceDivergence(definition.fast, definition.slow, definition.signal)
        return macd, lambda inputs: macd.update(inputs.close)
    if kind is FeatureKind.BOLLINGER:
        assert definition.deviations is not None
        bands = BollingerBands(period, definition.deviations)
        return bands, lambda inputs: bands.update(inputs.close)
    if kind is FeatureKind.VOLUME_ZSCORE:
        volume_zscore = VolumeZScore(period)
        return volume_zscore, lambda inputs: volume_zscore.update(inputs.volume)
    by_close: dict[FeatureKind, Callable[[], object]] = {
        FeatureKind.RETURN: lambda: PeriodReturn(period),
        FeatureKind.LOG_RETURN: LogReturn,
        FeatureKind.SMA: lambda: SimpleMovingAverage(period),
        FeatureKind.EMA: lambda: ExponentialMovingAverage(period),
        FeatureKind.RSI: lambda: RelativeStrengthIndex(period),
        FeatureKind.VOLATILITY: lambda: RollingVolatility(period),
    }
    if kind in by_close:
        calculator = by_close[kind]()
        return calculator, lambda inputs: calculator.update(inputs.close)  # type: ignore[attr-defined]
    raise ValueError(f"feature {definition.name}: unknown kind {kind!r}")


_OUTPUT_ATTRIBUTES = {
    (FeatureKind.MACD, "macd"): "value", (FeatureKind.MACD, "signal"): "signal_value",
    (FeatureKind.MACD, "histogram"): "histogram", (FeatureKind.BOLLINGER, "upper"): "upper",
    (FeatureKind.BOLLINGER, "middle"): "value", (FeatureKind.BOLLINGER, "lower"): "lower",
}


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
        # One calculator per (kind, parameters): macd, macd_signal and macd_hist share one MACD.
        shared: dict[FeatureDefinition, object] = {}
        self._updaters: list[Updater] = []
        self._readers: list[tuple[str, FeatureKind, Reader | None]] = []
        for definition in spec.definitions:
            require_parameters(definition)
            if definition.kind in PER_BAR_KINDS:
                self._readers.append((definition.name, definition.kind, None))
                continue
            key = msgspec.structs.replace(definition, name="", output=None)
            if key not in shared:
                calculator, updater = _calculator(definition)
                shared[key] = calculator
                self._updaters.append(updater)
            attribute = _OUTPUT_ATTRIBUTES.get((definition.kind, definition.output or ""), "value")
            self._readers.append((definition.name, definition.kind, _reader(shared[key], attribute)))
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
        for update in self._updaters:
            update(inputs)
        self.values = {
            name: bar_feature(kind, inputs) if read is None else read() for name, kind, read in self._readers
        }
        return self.values


def _reader(calculator: object, attribute: str) -> Reader:
    return lambda: getattr(calculator, attribute)
