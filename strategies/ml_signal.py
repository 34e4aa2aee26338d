"""ml_signal: BUY / SELL / HOLD from the nightly XGBoost model's prediction for the next bars.

On every closed bar the strategy updates its own FeatureSet (bot.features.spec, the features the
model was trained on; the loader has already refused any model whose manifest lists others), and
once every feature is known and a model is loaded it predicts with XGBoost's in-place prediction
on one row (no DMatrix per bar):

- classifier (labels 0 = down, 1 = flat, 2 = up): BUY when P(up) >= `threshold`, SELL when
  P(down) >= `threshold` (the larger wins if both are; a tie holds), strength = that probability;
- regressor (forward return over the label's horizon): BUY when the prediction >= `min_return`,
  SELL when <= -`min_return`, strength = |prediction| / (2 * min_return), capped at 1.

Otherwise HOLD, with the numbers in the reason. Every reason names the model version, so the
decision records show which model traded. HOLD also, saying why, while the features warm up,
before any model is loaded, when the model was trained on another bar interval, and when the model
is stale: older than `max_model_age_minutes`, measured as the bar's close time minus the end of
the model's training window (bar time, not the wall clock, so a backtest decides as live did).
On data that lacks a column a feature needs (OHLCV-only files have no taker volumes), that
feature stays unknown and the strategy holds, naming it.

Where the model comes from (strategies are built by name, nothing is handed to them):
- the daemon: `bot.models.holder.holder_for(model_name)`, which the daemon's ModelWatcher fills and
  swaps when a new version is promoted (docs/architecture.md, "Models: registry and hot-load");
- a backtest: `model_directory`, one stored version directory, loaded and verified once when the
  parameters are validated (`tradebot backtest --strategy ml_signal --param model_directory=...`).
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import ClassVar

import numpy
from pydantic import Field, field_validator

from bot.domain.events import Kline
from bot.domain.trading import Signal, SignalAction
from bot.features.spec import FEATURE_SPEC, FeatureSet
from bot.models.holder import ModelHolder, holder_for, pinned_holder
from bot.models.loader import LoadedModel
from bot.models.manifest import ModelRejected
from bot.strategy.base import BarStrategy, StrategyConfig

_NANOSECONDS_PER_MILLISECOND = 1_000_000
_NANOSECONDS_PER_MINUTE = 60_000_000_000


class MlSignalConfig(StrategyConfig):
    """model_name: the registry name the daemon hot-loads; model_directory: a pinned version
    directory instead (backtests); threshold: class probability needed to act (classifier);
    min_return: predicted return needed to act (regressor); max_model_age_minutes: HOLD on a model
    whose training data ended longer ago than this, in bar time."""

    model_name: str = Field(default="signal", min_length=1)
    model_directory: str | None = None
    threshold: float = Field(default=0.5, gt=0.0, le=1.0)
    min_return: float = Field(default=0.001, gt=0.0)
    max_model_age_minutes: float = Field(default=2 * 24 * 60, gt=0.0)

    @field_validator("model_directory")
    @classmethod
    def _pinned_model_loads(cls, directory: str | None) -> str | None:
        if directory is not None:
            try:
                pinned_holder(directory)  # loaded and verified once per process (cached)
            except ModelRejected as error:
                raise ValueError(str(error)) from None
        return directory


class MlSignal(BarStrategy):
    name: ClassVar[str] = "ml_signal"
    config_type: ClassVar[type[MlSignalConfig]] = MlSignalConfig

    def __init__(self, symbol: str, config: MlSignalConfig) -> None:
        self.settings = config  # typed view of self.config, set first: required_bars reads it
        super().__init__(symbol, config)
        self.features = FeatureSet(FEATURE_SPEC)
        self.holder: ModelHolder = (
            pinned_holder(config.model_directory) if config.model_directory is not None else holder_for(config.model_name)
        )
        self._max_age_ns = int(config.max_model_age_minutes * _NANOSECONDS_PER_MINUTE)

    def required_bars(self) -> int:
        return _warm_up_bars()

    def evaluate(self, bar: Kline) -> Signal:
        values = self.features.update(bar)  # every bar, model or not: a model loaded later finds them warm
        unknown = [name for name, value in values.items() if value is None]
        if unknown:
            shown = ", ".join(unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
            if self.bars_seen <= self.warmup_bars:
                return self.hold(bar, f"warming up: {shown} not known yet ({self.bars_seen}/{self.warmup_bars} bars)")
            # Past the spec's warm-up: a feature whose input column the data lacks (e.g. no taker volumes).
            return self.hold(bar, f"features unknown after warm-up: {shown} (does the data lack a column they need?)")
        model = self.holder.model  # read once: a swap between two bars never splits this decision
        if model is None:
            return self.hold(bar, f"no model {self.holder.name} loaded yet")
        manifest = model.manifest
        label = f"model {manifest.name} {manifest.version}"
        if manifest.label.interval != self.interval:
            return self.hold(bar, f"{label} was trained on {manifest.label.interval} bars, this strategy trades {self.interval}")
        age_ns = bar.close_time - manifest.training_window.end_ms * _NANOSECONDS_PER_MILLISECOND
        if age_ns > self._max_age_ns:
            return self.hold(
                bar, f"{label} is stale: training data ended {age_ns / _NANOSECONDS_PER_MINUTE:.0f} min before this bar "
                f"(max_model_age_minutes={self.settings.max_model_age_minutes:g})",
            )
        row = numpy.array([values[name] for name in manifest.feature_names], dtype=numpy.float64)
        output = model.predict(row)
        if model.is_classifier:
            return self._from_probabilities(bar, label, float(output[0]), float(output[1]), float(output[2]))
        return self._from_return(bar, label, model, float(output[0]))

    def _from_probabilities(self, bar: Kline, label: str, down: float, flat: float, up: float) -> Signal:
        threshold = self.settings.threshold
        numbers = f"{label}: P(down)={down:.4f} P(flat)={flat:.4f} P(up)={up:.4f}"
        if up >= threshold and up > down:
            return self.signal(bar, SignalAction.BUY, up, f"{numbers}, P(up) >= {threshold:g}")
        if down >= threshold and down > up:
            return self.signal(bar, SignalAction.SELL, down, f"{numbers}, P(down) >= {threshold:g}")
        return self.hold(bar, f"{numbers}, neither P(up) nor P(down) >= {threshold:g}")

    def _from_return(self, bar: Kline, label: str, model: LoadedModel, predicted: float) -> Signal:
        minimum = self.settings.min_return
        numbers = f"{label}: predicted {model.manifest.label.horizon_bars}-bar return {predicted:+.6f}"
        strength = abs(predicted) / (2 * minimum)
        if predicted >= minimum:
            return self.signal(bar, SignalAction.BUY, strength, f"{numbers} >= {minimum:g}")
        if predicted <= -minimum:
            return self.signal(bar, SignalAction.SELL, strength, f"{numbers} <= -{minimum:g}")
        return self.hold(bar, f"{numbers}, inside +/-{minimum:g}")


@functools.cache
def _warm_up_bars(limit: int = 10_000) -> int:
    """Bars the feature spec needs before every feature is known, whatever the spec: counted by
    feeding a scratch FeatureSet CONSTRUCTED bars (every optional column present, prices that move
    both ways), so it follows the spec's windows without restating them here."""
    features = FeatureSet(FEATURE_SPEC)
    one_minute = 60_000_000_000
    for index in range(limit):
        close = Decimal(100 + (index * 7) % 11)
        bar = Kline(
            symbol="CONSTRUCTED", ts_event=(index + 1) * one_minute, ts_init=(index + 1) * one_minute, interval="1m",
            open_time=index * one_minute, close_time=(index + 1) * one_minute - 1_000_000,
            open=close, high=close + 1, low=close - 1, close=close, volume=Decimal(10 + index % 5),
            quote_volume=Decimal(1000), trade_count=100 + index % 3, taker_buy_base_volume=Decimal(4 + index % 3),
            taker_buy_quote_volume=Decimal(500), first_trade_id=index, last_trade_id=index, is_closed=True,
        )
        if all(value is not None for value in features.update(bar).values()):
            return index  # bars before this one: the next bar after `index` bars is the first decided
    raise ValueError(f"feature spec {FEATURE_SPEC.version}: some feature is still unknown after {limit} bars")


STRATEGY = MlSignal
