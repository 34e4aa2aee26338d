"""ml_signal's decisions on real BTCUSDT 1m bars with real XGBoost models (tests/model_support.py).

Every decision is checked against an independent prediction: the features of the same bar from
the batch feature table, predicted with Booster.predict(DMatrix) rather than the strategy's
in-place path, turned into an action by the documented rule.
"""

from __future__ import annotations

import msgspec
import numpy
import pytest
import xgboost

from bot.domain.trading import SignalAction
from bot.features.spec import FEATURE_SPEC
from bot.models.holder import holder_for
from bot.models.loader import LoadedModel, load_from_bytes
from bot.strategy import StrategyConfigError, load_strategy
from model_support import MILLISECONDS, bars, feature_table, manifest_for, train

TRAIN_END = 2_500


@pytest.fixture(scope="module")
def classifier() -> LoadedModel:
    model_bytes = train("classifier", TRAIN_END)
    return load_from_bytes(manifest_for("unit-classifier", "20250924T020000Z", "classifier", model_bytes, TRAIN_END), model_bytes, loaded_at_ns=0)


@pytest.fixture(scope="module")
def regressor() -> LoadedModel:
    model_bytes = train("regressor", TRAIN_END)
    return load_from_bytes(manifest_for("unit-regressor", "20250924T030000Z", "regressor", model_bytes, TRAIN_END), model_bytes, loaded_at_ns=0)


def run(model: LoadedModel | None, name: str, **parameters) -> list:
    holder_for(name).swap(model)
    strategy = load_strategy("ml_signal", "BTCUSDT", {"model_name": name, **parameters})
    return [strategy.on_bar(bar) for bar in bars()]


def reference_outputs(model: LoadedModel) -> numpy.ndarray:
    _, features, _ = feature_table()
    booster = xgboost.Booster(model_file=bytearray(model.booster.save_raw("ubj")))
    known = ~numpy.isnan(features).any(axis=1)
    outputs = numpy.full((len(features), 3 if model.is_classifier else 1), numpy.nan)
    outputs[known] = booster.predict(xgboost.DMatrix(features[known])).reshape(known.sum(), -1)
    return outputs


def test_classifier_decisions_follow_the_probabilities(classifier):
    signals = run(classifier, "unit-classifier", threshold=0.5, max_model_age_minutes=10_000)
    outputs = reference_outputs(classifier)
    _, features, _ = feature_table()
    warm = ~numpy.isnan(features).any(axis=1)
    assert len(signals) == len(bars()) == 4_319
    for index, signal in enumerate(signals):
        if not warm[index]:
            assert signal.action is SignalAction.HOLD and signal.reason.startswith("warming up: "), signal.reason
            continue
        down, _, up = outputs[index]
        expected = SignalAction.BUY if up >= 0.5 and up > down else SignalAction.SELL if down >= 0.5 and down > up else SignalAction.HOLD
        assert signal.action is expected, (index, signal.reason)
        assert signal.reason.startswith("model unit-classifier 20250924T020000Z: P(down)="), signal.reason
        assert f"P(up)={up:.4f}" in signal.reason
        if expected is not SignalAction.HOLD:
            assert signal.strength == pytest.approx(max(up, down), rel=1e-6)
    actions = {signal.action for signal in signals}
    assert actions == {SignalAction.BUY, SignalAction.SELL, SignalAction.HOLD}
    assert not warm[:20].any() and warm[100:].all()  # warm-up is short and ends for good


def test_regressor_decisions_follow_the_predicted_return(regressor):
    signals = run(regressor, "unit-regressor", min_return=0.001, max_model_age_minutes=10_000)
    outputs = reference_outputs(regressor)[:, 0]
    counted = {SignalAction.BUY: 0, SignalAction.SELL: 0, SignalAction.HOLD: 0}
    for index, signal in enumerate(signals):
        if numpy.isnan(outputs[index]):
            continue
        predicted = outputs[index]
        expected = SignalAction.BUY if predicted >= 0.001 else SignalAction.SELL if predicted <= -0.001 else SignalAction.HOLD
        assert signal.action is expected, (index, signal.reason)
        assert f"model unit-regressor 20250924T030000Z: predicted 10-bar return {predicted:+.6f}" in signal.reason
        counted[expected] += 1
    assert all(count > 0 for count in counted.values()), counted


def test_a_stale_model_holds_by_bar_time(classifier):
    max_minutes = 120
    signals = run(classifier, "unit-classifier", max_model_age_minutes=max_minutes)
    end_ns = classifier.manifest.training_window.end_ms * MILLISECONDS
    stale = [signal for bar, signal in zip(bars(), signals, strict=True) if bar.close_time - end_ns > max_minutes * 60 * 10**9]
    fresh = [signal for bar, signal in zip(bars(), signals, strict=True)
             if bar.close_time - end_ns <= max_minutes * 60 * 10**9 and not signal.reason.startswith("warming up")]
    assert len(stale) > 1_500 and len(fresh) > 2_000
    assert all(signal.action is SignalAction.HOLD for signal in stale)
    assert all(signal.reason.startswith("model unit-classifier 20250924T020000Z is stale: training data ended ") for signal in stale)
    assert {signal.action for signal in fresh} >= {SignalAction.BUY, SignalAction.SELL}


def test_without_a_model_it_holds_and_a_swap_between_bars_takes_effect_on_the_next(classifier, regressor):
    holder = holder_for("unit-swap")
    holder.swap(None)
    strategy = load_strategy("ml_signal", "BTCUSDT", {"model_name": "unit-swap", "max_model_age_minutes": 10_000})
    signals = [strategy.on_bar(bar) for bar in bars()[:200]]
    assert signals[-1].action is SignalAction.HOLD and signals[-1].reason == "no model unit-swap loaded yet"
    holder.swap(classifier)
    after_classifier = [strategy.on_bar(bar) for bar in bars()[200:300]]
    holder.swap(regressor)
    after_regressor = [strategy.on_bar(bar) for bar in bars()[300:400]]
    assert all("20250924T020000Z: P(down)=" in signal.reason for signal in after_classifier)
    assert all("20250924T030000Z: predicted 10-bar return" in signal.reason for signal in after_regressor)


def test_a_model_of_another_bar_interval_holds(classifier):
    other = LoadedModel(
        msgspec.structs.replace(classifier.manifest, label=msgspec.structs.replace(classifier.manifest.label, interval="5m")),
        classifier.booster, 0,
    )
    signals = run(other, "unit-interval", max_model_age_minutes=10_000)
    assert signals[-1].action is SignalAction.HOLD
    assert signals[-1].reason == "model unit-classifier 20250924T020000Z was trained on 5m bars, this strategy trades 1m"


def test_parameters_are_checked_by_name():
    with pytest.raises(StrategyConfigError, match=r"strategy ml_signal: parameter threshold: must be at most 1 \(got 1.5\)"):
        load_strategy("ml_signal", "BTCUSDT", {"threshold": 1.5})
    with pytest.raises(StrategyConfigError, match="parameter model_directory: .*cannot read the model version"):
        load_strategy("ml_signal", "BTCUSDT", {"model_directory": "/nonexistent/signal/20250101T000000Z"})


def test_on_data_without_taker_volumes_it_holds_and_names_the_unknown_feature(classifier):
    from market_files import OHLCV_ONLY, recorded_klines

    holder_for("unit-ohlcv").swap(classifier)
    strategy = load_strategy("ml_signal", "BTCUSDT", {"model_name": "unit-ohlcv"})
    signals = [strategy.on_bar(bar) for bar in recorded_klines(OHLCV_ONLY)]
    taker_features = [name for name in FEATURE_SPEC.names if "taker" in name]
    assert len(signals) > strategy.warmup_bars + 100 and taker_features
    assert all(signal.action is SignalAction.HOLD for signal in signals)
    assert signals[-1].reason.startswith(f"features unknown after warm-up: {taker_features[0]}")
    assert signals[strategy.warmup_bars - 1].reason.startswith("warming up: ")
