"""XGBoost on the feature columns, single-node or on Spark, one model format either way.

Both engines return the booster's raw UBJSON bytes (`Booster.save_raw("ubj")`), the file the
registry stores as model.ubj and the daemon loads with `xgboost.Booster().load_model`. They are
not bit-identical (Spark's workers build their histograms on their own shards and merge them),
but they are the same kind of model over the same features, and their predictions agree closely
(tests/training measures how closely).

- "local": `xgboost.XGBClassifier` / `XGBRegressor` on a pandas frame, in this process.
- "spark": `xgboost.spark.SparkXGBClassifier` / `SparkXGBRegressor`, one XGBoost worker per
  executor core, so the same code trains on a laptop's local[*] or on a cluster.
- "auto": spark when the rows exceed `local_row_limit` or the Spark master is not local (a
  cluster was asked for), local otherwise.

Determinism: a fixed seed, the hist tree method, a fixed thread count and rows in a canonical
order (symbol, open time) give the same model bytes on every run of the same engine.
A missing feature value is NaN (XGBoost's "missing"); warm-up rows, where any feature is still
None, are dropped before training rather than taught to the model as a special case.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from xgboost.spark.utils import _get_max_num_concurrent_tasks  # xgboost.spark's own slot count
import pandas as pd
import xgboost

from bot.features.spec import FEATURE_SPEC
from spark_batch.labels import DIRECTION, FORWARD_RETURN

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession

Engine = Literal["local", "spark", "auto"]
Kind = Literal["classifier", "regressor"]
CLASS_COUNT = 3
DEFAULT_LOCAL_ROW_LIMIT = 5_000_000  # ~5M rows x 30 float features fit one machine's memory


class TrainingError(Exception):
    """A training run that cannot go on; the message names what is wrong (path, symbol, rows)."""


@dataclass(frozen=True)
class TrainingParameters:
    """XGBoost's knobs. Defaults are modest on purpose: 1-minute returns are mostly noise and a
    deep, long ensemble memorises it."""

    n_estimators: int = 200
    max_depth: int = 4
    learning_rate: float = 0.05
    min_child_weight: float = 5.0
    reg_lambda: float = 1.0
    seed: int = 0
    nthread: int = 2

    def xgboost_arguments(self) -> dict[str, Any]:
        return {
            "n_estimators": self.n_estimators,
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "min_child_weight": self.min_child_weight,
            "reg_lambda": self.reg_lambda,
            "tree_method": "hist",
        }


DEFAULT_PARAMETERS = TrainingParameters()


@dataclass(frozen=True)
class TrainedModel:
    model_bytes: bytes  # UBJSON, Booster.save_raw("ubj")
    kind: Kind
    engine: Literal["local", "spark"]
    rows: int
    seconds: float


def label_column(kind: Kind) -> str:
    if kind == "classifier":
        return DIRECTION
    if kind == "regressor":
        return FORWARD_RETURN
    raise TrainingError(f"model kind must be 'classifier' or 'regressor', got {kind!r}")


def feature_names() -> list[str]:
    return list(FEATURE_SPEC.names)


def is_spark_frame(frame: object) -> bool:
    return type(frame).__module__.startswith("pyspark.")


def spark_is_local(spark: SparkSession) -> bool:
    return spark.sparkContext.master.startswith("local")


def choose_engine(
    engine: Engine, rows: int, spark: SparkSession | None, local_row_limit: int = DEFAULT_LOCAL_ROW_LIMIT
) -> Literal["local", "spark"]:
    if engine == "local":
        return "local"
    if engine == "spark":
        if spark is None:
            raise TrainingError("engine 'spark' needs a SparkSession (spark=...)")
        return "spark"
    if engine != "auto":
        raise TrainingError(f"engine must be 'local', 'spark' or 'auto', got {engine!r}")
    if spark is not None and (rows > local_row_limit or not spark_is_local(spark)):
        return "spark"
    return "local"


def trainable_rows(frame: pd.DataFrame, kind: Kind) -> pd.DataFrame:
    """Rows with every feature and the label known, in canonical order (symbol, open time)."""
    columns = [*feature_names(), label_column(kind)]
    kept = frame.dropna(subset=columns)
    return kept.sort_values(["symbol", "open_time_ms"], kind="stable").reset_index(drop=True)


def trainable_rows_spark(frame: SparkDataFrame, kind: Kind) -> SparkDataFrame:
    return frame.dropna(subset=[*feature_names(), label_column(kind)]).orderBy("symbol", "open_time_ms")


def _check_classes(present: set[int], rows: int) -> None:
    missing = sorted({0, 1, 2} - present)
    if missing:
        names = {0: "down", 1: "flat", 2: "up"}
        raise TrainingError(
            f"the training rows ({rows}) have no {', '.join(names[m] for m in missing)} label: a 3-class "
            "classifier cannot be trained on them (more data, or a smaller flat threshold)"
        )


def train_local(frame: pd.DataFrame, kind: Kind, parameters: TrainingParameters) -> TrainedModel:
    started = time.perf_counter()
    rows = trainable_rows(frame, kind)
    if rows.empty:
        raise TrainingError("no training rows with every feature and a label")
    features = rows[feature_names()].astype(float)
    target = rows[label_column(kind)].to_numpy(dtype=float)
    common = {**parameters.xgboost_arguments(), "random_state": parameters.seed, "n_jobs": parameters.nthread}
    if kind == "classifier":
        _check_classes(set(np.unique(target).astype(int).tolist()), len(rows))
        model = xgboost.XGBClassifier(objective="multi:softprob", **common)
        model.fit(features, target.astype(int))
    else:
        model = xgboost.XGBRegressor(objective="reg:squarederror", **common)
        model.fit(features, target)
    data = bytes(model.get_booster().save_raw("ubj"))
    return TrainedModel(data, kind, "local", len(rows), time.perf_counter() - started)


def train_spark(frame: SparkDataFrame, kind: Kind, parameters: TrainingParameters, spark: SparkSession) -> TrainedModel:
    from pyspark.sql import functions as F
    from xgboost.spark import SparkXGBClassifier, SparkXGBRegressor

    started = time.perf_counter()
    label = label_column(kind)
    rows = trainable_rows_spark(frame, kind).select(
        *[F.col(name).cast("double") for name in feature_names()], F.col(label).cast("double")
    )
    count = rows.count()
    if count == 0:
        raise TrainingError("no training rows with every feature and a label")
    # One XGBoost worker per task slot the cluster has now. XGBoost trains in barrier mode: asking
    # for more workers than slots waits forever (defaultParallelism is at least 2 even on a
    # one-core cluster), so the figure comes from the scheduler, as xgboost.spark's own check does.
    workers = max(1, min(spark.sparkContext.defaultParallelism, _get_max_num_concurrent_tasks(spark.sparkContext)))
    common = {
        **parameters.xgboost_arguments(),
        "features_col": feature_names(),
        "label_col": label,
        "num_workers": workers,
        "seed": parameters.seed,
        "missing": float("nan"),
    }
    if kind == "classifier":
        present = {int(row[0]) for row in rows.select(label).distinct().collect()}
        _check_classes(present, count)
        # SparkXGBClassifier picks multi:softprob itself for more than two classes.
        estimator = SparkXGBClassifier(**common)
    else:
        estimator = SparkXGBRegressor(objective="reg:squarederror", **common)
    model = estimator.fit(rows)
    data = bytes(model.get_booster().save_raw("ubj"))
    return TrainedModel(data, kind, "spark", count, time.perf_counter() - started)


def train(
    frame: pd.DataFrame | SparkDataFrame,
    kind: Kind,
    *,
    engine: Literal["local", "spark"],
    parameters: TrainingParameters = DEFAULT_PARAMETERS,
    spark: SparkSession | None = None,
) -> TrainedModel:
    """Train on `frame`'s labelled rows with the chosen engine (see choose_engine for "auto")."""
    label_column(kind)
    if engine == "spark":
        if spark is None:
            raise TrainingError("engine 'spark' needs a SparkSession (spark=...)")
        spark_frame = frame if is_spark_frame(frame) else spark.createDataFrame(frame)
        return train_spark(spark_frame, kind, parameters, spark)
    pandas_frame = frame.toPandas() if is_spark_frame(frame) else frame
    return train_local(pandas_frame, kind, parameters)


def load_booster(model_bytes: bytes) -> xgboost.Booster:
    booster = xgboost.Booster()
    booster.load_model(bytearray(model_bytes))
    return booster


def predict(model_bytes: bytes | xgboost.Booster, frame: pd.DataFrame) -> np.ndarray:
    """The model's output on `frame`'s feature columns: class probabilities (rows x 3) for a
    classifier, the predicted return for a regressor. None / NaN features count as missing."""
    booster = model_bytes if isinstance(model_bytes, xgboost.Booster) else load_booster(model_bytes)
    matrix = frame[feature_names()].astype(float).to_numpy()
    return np.asarray(booster.inplace_predict(matrix, missing=np.nan))
