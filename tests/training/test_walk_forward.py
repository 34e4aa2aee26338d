"""Walk-forward folds on real bars: the purge keeps every training label out of the test window,
and the metrics are what a direct computation (numpy, and scikit-learn as a second opinion)
gives on a fold."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    log_loss,
    mean_absolute_error,
    precision_score,
)

from spark_batch.evaluation import class_frequencies, plan_folds, rows_in, score
from spark_batch.labels import DIRECTION, FORWARD_RETURN, PAST_RETURN, label_frame
from spark_batch.training import TrainingError, TrainingParameters, predict, train_local
from training.lake_support import MINUTE_MS, training_frame

HORIZON = 10
FAST = TrainingParameters(n_estimators=20, max_depth=2)


@pytest.fixture(scope="module")
def labelled():
    return label_frame(training_frame(), horizon=HORIZON).dropna().reset_index(drop=True)


def test_purge_gap_keeps_training_labels_out_of_the_test_window(labelled) -> None:
    plans = plan_folds(labelled["open_time_ms"].to_numpy(), folds=4, horizon=HORIZON, interval="1m")
    assert [plan.index for plan in plans] == [1, 2, 3, 4]
    for previous, plan in itertools.pairwise(plans):
        assert plan.train.start_ms == previous.train.start_ms  # expanding window
        assert plan.test.start_ms == previous.test.end_ms + MINUTE_MS  # test windows tile the time
    for plan in plans:
        train = rows_in(labelled, plan.train)
        test = rows_in(labelled, plan.test)
        # The last training label ends at the close of the bar before the test window.
        label_ends = train["open_time_ms"] + HORIZON * MINUTE_MS
        assert label_ends.max() == plan.test.start_ms - MINUTE_MS
        assert label_ends.max() < test["open_time_ms"].min()
        # Exactly H bars between the last training bar and the first test bar, for each symbol.
        for symbol in ("BTCUSDT", "ETHUSDT"):
            last_train = train.loc[train["symbol"] == symbol, "open_time_ms"].max()
            first_test = test.loc[test["symbol"] == symbol, "open_time_ms"].min()
            purged = labelled[(labelled["symbol"] == symbol) & (labelled["open_time_ms"] > last_train)
                              & (labelled["open_time_ms"] < first_test)]
            assert len(purged) == HORIZON
            assert first_test - last_train == (HORIZON + 1) * MINUTE_MS


def test_too_short_data_for_the_folds_is_refused(labelled) -> None:
    with pytest.raises(TrainingError, match=r"cannot make 400 walk-forward folds"):
        plan_folds(labelled["open_time_ms"].to_numpy(), folds=400, horizon=HORIZON, interval="1m")


def test_classifier_metrics_match_a_direct_computation(labelled) -> None:
    plan = plan_folds(labelled["open_time_ms"].to_numpy(), folds=2, horizon=HORIZON, interval="1m")[0]
    train, test = rows_in(labelled, plan.train), rows_in(labelled, plan.test)
    model = train_local(train, "classifier", FAST)
    probabilities = predict(model.model_bytes, test)
    prior = class_frequencies(train[DIRECTION].to_numpy())
    metrics = score("classifier", test, probabilities, prior)

    actual = test[DIRECTION].to_numpy().astype(int)
    predicted = probabilities.argmax(axis=1)
    # XGBoost returns float32 probabilities whose rows sum to 1 within ~1e-7; the metric (like
    # scikit-learn) renormalises each row in float64 first.
    normalised = probabilities.astype(float) / probabilities.astype(float).sum(axis=1, keepdims=True)
    direct_log_loss = -np.mean(np.log(normalised[np.arange(len(actual)), actual]))
    assert metrics["log_loss"] == pytest.approx(direct_log_loss, rel=1e-12)
    assert metrics["log_loss"] == pytest.approx(log_loss(actual, probabilities, labels=[0, 1, 2]), rel=1e-6)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(actual, predicted))
    assert metrics["accuracy_always_flat"] == pytest.approx(np.mean(actual == 1))
    counts = np.bincount(train[DIRECTION].to_numpy().astype(int), minlength=3)
    assert metrics["log_loss_prior"] == pytest.approx(-np.mean(np.log(counts[actual] / counts.sum())), rel=1e-9)
    for label, name in enumerate(("down", "flat", "up")):
        if (predicted == label).any():
            assert metrics[f"precision_{name}"] == pytest.approx(
                precision_score(actual, predicted, labels=[label], average=None, zero_division=0)[0]
            )
        else:
            assert f"precision_{name}" not in metrics  # undefined, not reported as 0
    assert metrics["rows"] == len(test)


def test_regressor_metrics_match_a_direct_computation(labelled) -> None:
    plan = plan_folds(labelled["open_time_ms"].to_numpy(), folds=2, horizon=HORIZON, interval="1m")[1]
    train, test = rows_in(labelled, plan.train), rows_in(labelled, plan.test)
    model = train_local(train, "regressor", FAST)
    predicted = predict(model.model_bytes, test)
    metrics = score("regressor", test, predicted, None)
    actual = test[FORWARD_RETURN].to_numpy()
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean((actual - predicted) ** 2)), rel=1e-12)
    assert metrics["mae"] == pytest.approx(mean_absolute_error(actual, predicted), rel=1e-9)
    assert metrics["rmse_zero"] == pytest.approx(np.sqrt(np.mean(actual**2)), rel=1e-12)
    last_value = test[PAST_RETURN].to_numpy()
    assert not np.isnan(last_value).any()  # no gap in this window: the baseline is fully known
    assert metrics["rmse_last_value"] == pytest.approx(np.sqrt(np.mean((actual - last_value) ** 2)), rel=1e-12)
    assert metrics["mae_last_value"] == pytest.approx(np.mean(np.abs(actual - last_value)), rel=1e-12)


def test_local_training_is_deterministic(labelled) -> None:
    first = train_local(labelled.head(3000), "classifier", FAST).model_bytes
    second = train_local(labelled.head(3000), "classifier", FAST).model_bytes
    assert first == second


def test_a_classifier_needs_every_class(labelled) -> None:
    flat_only = labelled[labelled[DIRECTION] == 1].head(500)
    with pytest.raises(TrainingError, match=r"no down, up label"):
        train_local(flat_only, "classifier", FAST)
