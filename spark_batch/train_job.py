"""The nightly training run: labels -> walk-forward metrics -> candidate -> manifest -> store ->
gate -> promote -> prune.

The candidate is the last fold's model: trained on everything before the most recent test window
(minus the purge) and scored on that window, so the figures in its manifest and the gate's
decision describe exactly the model that is stored. Any error before the model is stored stops
the run with nothing written; a stored model is promoted only by a gate decision that says so.
"""

from __future__ import annotations

import platform
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import structlog

from bot.features.spec import FEATURE_SPEC
from bot.models.manifest import (
    MANIFEST_FILE,
    MODEL_FILE,
    LabelDefinition,
    ModelManifest,
    TimeWindow,
    encode_manifest,
    sha256_of,
)
from bot.models.registry import ModelRegistry
from spark_batch.evaluation import (
    DEFAULT_FOLDS,
    FoldResult,
    Window,
    class_frequencies,
    plan_folds,
    primary_metric,
    rows_in,
    score,
)
from spark_batch.fingerprint import fingerprint_frame, fingerprint_spark
from spark_batch.labels import (
    DEFAULT_FLAT_THRESHOLD,
    DEFAULT_HORIZON_BARS,
    DIRECTION,
    label_frame,
    label_spark,
)
from spark_batch.promotion import decide
from spark_batch.report import TrainingReport
from spark_batch.training import (
    DEFAULT_LOCAL_ROW_LIMIT,
    DEFAULT_PARAMETERS,
    Engine,
    Kind,
    TrainingError,
    TrainingParameters,
    choose_engine,
    feature_names,
    is_spark_frame,
    label_column,
    predict,
    train,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession

log = structlog.get_logger(__name__)
SignalBacktest = Callable[[Path, TimeWindow], dict[str, float]]


def library_versions() -> dict[str, str]:
    import pyspark
    import xgboost

    try:
        tradebot = metadata.version("tradebot")
    except metadata.PackageNotFoundError:
        tradebot = "unknown"
    return {"xgboost": xgboost.__version__, "pyspark": pyspark.__version__, "python": platform.python_version(), "tradebot": tradebot}


def _usable(frame: pd.DataFrame | SparkDataFrame, kind: Kind) -> pd.DataFrame | SparkDataFrame:
    columns = [*feature_names(), label_column(kind)]
    return frame.dropna(subset=columns)


def _between(frame: pd.DataFrame | SparkDataFrame, start_ms: int, end_ms: int) -> pd.DataFrame | SparkDataFrame:
    if is_spark_frame(frame):
        from pyspark.sql import functions as F

        return frame.filter((F.col("open_time_ms") >= start_ms) & (F.col("open_time_ms") <= end_ms))
    return rows_in(frame, Window(start_ms, end_ms))


def _to_pandas(frame: pd.DataFrame | SparkDataFrame) -> pd.DataFrame:
    if is_spark_frame(frame):
        return frame.orderBy("symbol", "open_time_ms").toPandas()
    return frame.sort_values(["symbol", "open_time_ms"], kind="stable").reset_index(drop=True)


def _prior(train_rows: pd.DataFrame | SparkDataFrame) -> np.ndarray:
    if is_spark_frame(train_rows):
        counts = {int(row[0]): row[1] for row in train_rows.groupBy(DIRECTION).count().collect()}
        labels = np.repeat(np.arange(3), [counts.get(label, 0) for label in range(3)])
        return class_frequencies(labels)
    return class_frequencies(train_rows[DIRECTION].to_numpy(float))


def _finite(metrics: dict[str, float], prefix: str = "") -> dict[str, float]:
    return {f"{prefix}{key}": float(value) for key, value in metrics.items() if np.isfinite(value)}


def train_and_publish(
    features: pd.DataFrame | SparkDataFrame,
    *,
    registry: ModelRegistry,
    name: str,
    kind: Kind,
    horizon: int = DEFAULT_HORIZON_BARS,
    threshold: float = DEFAULT_FLAT_THRESHOLD,
    engine: Engine = "auto",
    now_ns: int,
    keep: int = 5,
    spark: SparkSession | None = None,
    signal_backtest: SignalBacktest | None = None,
    interval: str = "1m",
    folds: int = DEFAULT_FOLDS,
    parameters: TrainingParameters = DEFAULT_PARAMETERS,
    local_row_limit: int = DEFAULT_LOCAL_ROW_LIMIT,
) -> TrainingReport:
    """Train, evaluate, store and (if the gate agrees) promote a model from `features`: the
    training table (symbol, open_time_ms, close, optional missing_bars_before, the spec's
    features), e.g. from spark_batch.training_data. Raises TrainingError / LabelError with
    nothing stored when the run cannot produce a trustworthy model."""
    durations: dict[str, float] = {}
    started = time.perf_counter()
    label_column(kind)
    if keep < 1:
        raise TrainingError(f"keep must be at least 1, got {keep}")
    rows_input = features.count() if is_spark_frame(features) else len(features)
    chosen = choose_engine(engine, rows_input, spark, local_row_limit)
    if chosen == "local" and is_spark_frame(features):
        features = _to_pandas(features)
    if chosen == "spark" and not is_spark_frame(features):
        assert spark is not None
        features = spark.createDataFrame(features)

    phase = time.perf_counter()
    if is_spark_frame(features):
        labelled = label_spark(features, horizon=horizon, threshold=threshold, interval=interval).cache()
    else:
        labelled = label_frame(features, horizon=horizon, threshold=threshold, interval=interval)
    usable = _usable(labelled, kind)
    if is_spark_frame(usable):
        times = np.array([row[0] for row in usable.select("open_time_ms").distinct().collect()], dtype=np.int64)
        rows_usable = usable.count()
        symbols = tuple(sorted(row[0] for row in features.select("symbol").distinct().collect()))
    else:
        times, rows_usable = usable["open_time_ms"].to_numpy(), len(usable)
        symbols = tuple(sorted(features["symbol"].unique().tolist()))
    durations["labels"] = time.perf_counter() - phase
    if rows_usable == 0:
        raise TrainingError(f"no row has every feature and a {horizon}-bar label ({rows_input} input rows)")
    plans = plan_folds(times, folds=folds, horizon=horizon, interval=interval)

    phase = time.perf_counter()
    fold_results: list[FoldResult] = []
    pooled: list[tuple[pd.DataFrame, np.ndarray, np.ndarray]] = []
    candidate = None
    for plan in plans:
        train_rows = _between(usable, plan.train.start_ms, plan.train.end_ms)
        test_rows = _to_pandas(_between(usable, plan.test.start_ms, plan.test.end_ms))
        model = train(train_rows, kind, engine=chosen, parameters=parameters, spark=spark)
        prior = _prior(train_rows) if kind == "classifier" else np.full(3, np.nan)
        output = predict(model.model_bytes, test_rows)
        metrics = score(kind, test_rows, output, prior)
        fold_results.append(FoldResult(plan, model.rows, len(test_rows), metrics))
        pooled.append((test_rows, output, np.tile(prior, (len(test_rows), 1))))
        candidate = (plan, model, train_rows, test_rows, prior, metrics)
    durations["walk_forward"] = time.perf_counter() - phase
    assert candidate is not None
    plan, model, train_rows, recent_rows, prior, recent_metrics = candidate
    overall = score(
        kind, pd.concat([part[0] for part in pooled], ignore_index=True),
        np.concatenate([part[1] for part in pooled]), np.concatenate([part[2] for part in pooled]),
    )

    phase = time.perf_counter()
    fingerprint = fingerprint_spark(train_rows) if is_spark_frame(train_rows) else fingerprint_frame(train_rows)
    label = LabelDefinition(
        horizon_bars=horizon, interval=interval, kind="direction_3class" if kind == "classifier" else "forward_return",
        flat_threshold=float(threshold),
    )
    version = registry.free_version(name, now_ns)
    manifest_metrics = {**_finite(recent_metrics), **_finite(overall, "walk_forward_")}
    test_window = TimeWindow(start_ms=plan.test.start_ms, end_ms=plan.test.end_ms)

    def manifest_with(metrics: dict[str, float]) -> ModelManifest:
        return ModelManifest(
            name=name, version=version, kind=kind, created_at_ns=now_ns, feature_names=FEATURE_SPEC.names,
            feature_spec_version=FEATURE_SPEC.version, feature_spec_fingerprint=FEATURE_SPEC.fingerprint, label=label,
            training_window=TimeWindow(start_ms=plan.train.start_ms, end_ms=plan.train.end_ms), test_window=test_window,
            symbols=symbols, data_fingerprint=fingerprint, metrics=dict(sorted(metrics.items())),
            library_versions=library_versions(), model_sha256=sha256_of(model.model_bytes),
        )

    backtest: dict[str, float] = {}
    if signal_backtest is not None:
        phase_backtest = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"{name}-{version}-") as directory:
            staged = Path(directory)
            (staged / MODEL_FILE).write_bytes(model.model_bytes)
            (staged / MANIFEST_FILE).write_bytes(encode_manifest(manifest_with(manifest_metrics)))
            try:
                backtest = {key: float(value) for key, value in signal_backtest(staged, test_window).items()}
            except Exception as error:
                raise TrainingError(f"the signal backtest of the candidate failed, nothing stored: {error}") from error
        durations["signal_backtest"] = time.perf_counter() - phase_backtest
        manifest_metrics.update(_finite(backtest, "backtest_"))
    manifest = manifest_with(manifest_metrics)
    stored = registry.store(manifest, model.model_bytes)

    decision = decide(
        registry=registry, name=name, kind=kind, label=label, candidate_bytes=model.model_bytes,
        test_rows=recent_rows, prior=prior if kind == "classifier" else None, candidate_metrics=recent_metrics,
    )
    if decision.promote:
        registry.promote(name, version)
        log.info("model promoted", name=name, version=version, reason=decision.reason)
    else:
        log.warning("model stored but not promoted", name=name, version=version, reason=decision.reason)
    pruned = registry.prune(name, keep)
    if is_spark_frame(labelled):
        labelled.unpersist()
    durations["publish"] = time.perf_counter() - phase
    durations["total"] = time.perf_counter() - started
    return TrainingReport(
        name=name, kind=kind, engine=chosen, symbols=symbols, interval=interval, horizon=horizon, threshold=threshold,
        rows_input=rows_input, rows_usable=rows_usable, rows_training=model.rows, folds=fold_results,
        recent_metrics=recent_metrics, overall_metrics=overall, backtest_metrics=backtest, decision=decision,
        primary_metric=primary_metric(kind), version=version, model_directory=stored, promoted=decision.promote,
        pruned=pruned, data_fingerprint=fingerprint, durations=durations,
    )
