"""Walk-forward validation: train on the past, test on what came after, never on a label that
saw the test window.

The distinct bar open times are cut into `folds + 1` equal, time-ordered chunks. Fold k tests on
chunk k and trains on every bar before it (an expanding window) except the last H bars: a label
is the return over the H bars after its bar, so a training row closer than H bars to the test
window would carry the test window's prices in its label. With the purge, the last training row
opens at `test_start - (H + 1) * interval` and its label ends at the close of the bar before the
test window's first bar. All symbols share the same windows (cut on time, not row counts).

Every figure is reported beside a naive baseline, because a model that cannot beat "predict zero"
or "always flat" has no edge, however good its numbers look alone:
- regressor: RMSE and MAE vs predicting a zero return and vs the "last value" (the most recent
  H-bar return fully known at the bar's close, `past_return`; 0 where a gap hides it);
- classifier: log-loss, accuracy and per-class precision vs always predicting flat (its
  accuracy) and vs predicting the training window's class frequencies (its log-loss).
Nothing here is tuned on a test window; the parameters are fixed before the folds run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from spark_batch.labels import DIRECTION, FORWARD_RETURN, PAST_RETURN
from spark_batch.lake import interval_milliseconds
from spark_batch.training import Kind, TrainingError

CLASS_NAMES = ("down", "flat", "up")
PROBABILITY_FLOOR = 1e-15  # log-loss clips probabilities like scikit-learn, so one 0 is not infinite
DEFAULT_FOLDS = 4


@dataclass(frozen=True)
class Window:
    """Bar open times in epoch milliseconds, both inclusive."""

    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class FoldPlan:
    index: int
    train: Window  # first and last open time of the training rows (after the purge)
    test: Window
    purge_bars: int


@dataclass
class FoldResult:
    plan: FoldPlan
    train_rows: int
    test_rows: int
    metrics: dict[str, float] = field(default_factory=dict)


def plan_folds(open_times_ms: np.ndarray, *, folds: int, horizon: int, interval: str) -> list[FoldPlan]:
    """The walk-forward windows over these open times (any order, repeats allowed: one per
    symbol). Raises TrainingError when the data is too short for `folds` folds."""
    if folds < 1:
        raise TrainingError(f"folds must be at least 1, got {folds}")
    times = np.unique(np.asarray(open_times_ms, dtype=np.int64))
    step = interval_milliseconds(interval)
    chunk = len(times) // (folds + 1)
    if chunk <= horizon + 1:
        raise TrainingError(
            f"{len(times)} distinct bars cannot make {folds} walk-forward folds with a purge of {horizon} bars "
            f"(each window would hold {chunk} bars)"
        )
    plans = []
    for index in range(1, folds + 1):
        test_first = times[index * chunk]
        test_last = times[(index + 1) * chunk - 1] if index < folds else times[-1]
        last_train_allowed = test_first - (horizon + 1) * step
        train_times = times[times <= last_train_allowed]
        if len(train_times) == 0:
            raise TrainingError(f"fold {index}: no training bars before {test_first} after the purge")
        plans.append(
            FoldPlan(index, Window(int(train_times[0]), int(train_times[-1])), Window(int(test_first), int(test_last)), horizon)
        )
    return plans


def rows_in(frame: pd.DataFrame, window: Window) -> pd.DataFrame:
    times = frame["open_time_ms"]
    return frame[(times >= window.start_ms) & (times <= window.end_ms)]


def regression_metrics(actual: np.ndarray, predicted: np.ndarray, past: np.ndarray) -> dict[str, float]:
    last_value = np.nan_to_num(past, nan=0.0)

    def rmse(guess: np.ndarray) -> float:
        return float(np.sqrt(np.mean((actual - guess) ** 2)))

    def mae(guess: np.ndarray) -> float:
        return float(np.mean(np.abs(actual - guess)))

    zero = np.zeros_like(actual)
    return {
        "rmse": rmse(predicted),
        "mae": mae(predicted),
        "rmse_zero": rmse(zero),
        "mae_zero": mae(zero),
        "rmse_last_value": rmse(last_value),
        "mae_last_value": mae(last_value),
        "rows": float(len(actual)),
    }


def log_loss(actual: np.ndarray, probabilities: np.ndarray) -> float:
    clipped = np.clip(probabilities, PROBABILITY_FLOOR, 1.0)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(clipped[np.arange(len(actual)), actual])))


def class_frequencies(train_labels: np.ndarray) -> np.ndarray:
    counts = np.bincount(train_labels.astype(int), minlength=3).astype(float)
    return counts / counts.sum()


def classification_metrics(actual: np.ndarray, probabilities: np.ndarray, prior: np.ndarray) -> dict[str, float]:
    """`prior`: the training window's class frequencies, the no-skill probabilistic forecast (one
    row of 3, or one per test row when folds with different training windows are pooled). Precision of a class the model never predicts is undefined and left out (not reported as 0)."""
    actual = actual.astype(int)
    predicted = probabilities.argmax(axis=1)
    metrics = {
        "log_loss": log_loss(actual, probabilities),
        "accuracy": float(np.mean(predicted == actual)),
        "log_loss_prior": log_loss(actual, prior if prior.ndim == 2 else np.tile(prior, (len(actual), 1))),
        "accuracy_always_flat": float(np.mean(actual == 1)),
        "rows": float(len(actual)),
    }
    for label, name in enumerate(CLASS_NAMES):
        chosen = predicted == label
        metrics[f"predicted_share_{name}"] = float(np.mean(chosen))
        metrics[f"actual_share_{name}"] = float(np.mean(actual == label))
        if chosen.any():
            metrics[f"precision_{name}"] = float(np.mean(actual[chosen] == label))
    return metrics


def score(kind: Kind, test: pd.DataFrame, output: np.ndarray, prior: np.ndarray | None = None) -> dict[str, float]:
    """Metrics of a model's `output` (see training.predict) on labelled test rows."""
    if kind == "regressor":
        return regression_metrics(
            test[FORWARD_RETURN].to_numpy(float), np.asarray(output, float), test[PAST_RETURN].to_numpy(float)
        )
    if prior is None:
        raise TrainingError("classifier metrics need the training class frequencies")
    return classification_metrics(test[DIRECTION].to_numpy(float), np.asarray(output, float), prior)


def primary_metric(kind: Kind) -> str:
    """What the promotion gate compares: lower is better for both."""
    return "log_loss" if kind == "classifier" else "rmse"


def baseline_score(kind: Kind, metrics: dict[str, float]) -> float:
    """The naive forecast's value of the primary metric: the class-frequency prior's log-loss, or
    the better of the zero and last-value RMSEs (the stricter bar)."""
    if kind == "classifier":
        return metrics["log_loss_prior"]
    return min(metrics["rmse_zero"], metrics["rmse_last_value"])
