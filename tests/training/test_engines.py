"""Single-node XGBoost and xgboost.spark on the same real rows: one model format (UBJSON that a
plain `xgboost.Booster` loads), the same kind of model, predictions close on the same rows.

They are not bit-identical: Spark's two workers each sketch their own shard's feature quantiles
and XGBoost merges the sketches, so the histogram bins (hence split points) differ slightly from
the single-node bins. The tolerances below are what that costs on these rows, measured."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xgboost

from spark_batch.labels import label_frame
from spark_batch.training import (
    TrainingError,
    TrainingParameters,
    choose_engine,
    feature_names,
    load_booster,
    predict,
    train,
)
from training.lake_support import training_frame

FAST = TrainingParameters(n_estimators=20, max_depth=3)


@pytest.fixture(scope="module")
def rows():
    return label_frame(training_frame(), horizon=10).dropna().reset_index(drop=True)


def _config(model_bytes: bytes) -> dict:
    return json.loads(load_booster(model_bytes).save_config())


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_both_engines_make_the_same_model_format_with_close_predictions(spark, rows, kind) -> None:
    local = train(rows, kind, engine="local", parameters=FAST)
    distributed = train(rows, kind, engine="spark", parameters=FAST, spark=spark)
    assert (local.engine, distributed.engine) == ("local", "spark")
    assert local.rows == distributed.rows == len(rows)
    for model in (local, distributed):
        assert model.model_bytes[:1] == b"{"  # UBJSON object marker: XGBoost's own binary JSON
        booster = xgboost.Booster()
        booster.load_model(bytearray(model.model_bytes))
        assert booster.feature_names == feature_names()
        assert booster.num_boosted_rounds() == FAST.n_estimators
    local_config, spark_config = _config(local.model_bytes), _config(distributed.model_bytes)
    objective = local_config["learner"]["objective"]["name"]
    assert objective == spark_config["learner"]["objective"]["name"]
    assert objective == ("multi:softprob" if kind == "classifier" else "reg:squarederror")
    assert local_config["learner"]["learner_model_param"]["num_class"] == spark_config["learner"]["learner_model_param"]["num_class"]

    local_output, spark_output = predict(local.model_bytes, rows), predict(distributed.model_bytes, rows)
    assert local_output.shape == spark_output.shape
    difference = np.abs(local_output - spark_output)
    # Measured on these rows (20 rounds, depth 3, local[2]): classifier max 0.043, mean 0.001,
    # p99 0.0076, argmax agreement > 99%; regressor mean 1.5e-5 (5% of the predictions' spread),
    # p99 1.4e-4, max 1.3e-3 on a single row whose feature sits between the engines' bin edges,
    # correlation 0.994. The bounds leave about 2x room over those figures.
    assert local_config["learner"]["learner_model_param"]["base_score"] == spark_config["learner"]["learner_model_param"]["base_score"]
    if kind == "classifier":
        assert local_output.shape == (len(rows), 3)
        assert difference.max() < 0.1  # probabilities
        assert difference.mean() < 0.005
        assert np.percentile(difference, 99) < 0.02
        assert np.mean(local_output.argmax(axis=1) == spark_output.argmax(axis=1)) > 0.99
    else:
        spread = local_output.std()
        assert difference.mean() < 0.1 * spread
        assert np.percentile(difference, 99) < spread
        assert difference.max() < 2 * rows["forward_return"].std()
        assert np.corrcoef(local_output, spark_output)[0, 1] > 0.98
    print(f"{kind}: max |local - spark| {difference.max():.3g}, mean {difference.mean():.3g}")


def test_engine_choice(spark) -> None:
    assert choose_engine("auto", 1_000, spark, local_row_limit=10_000) == "local"  # local[2] master, small data
    assert choose_engine("auto", 20_000, spark, local_row_limit=10_000) == "spark"
    assert choose_engine("auto", 20_000, None, local_row_limit=10_000) == "local"  # no session: nothing else to use
    assert choose_engine("spark", 10, spark) == "spark"
    with pytest.raises(TrainingError, match="needs a SparkSession"):
        choose_engine("spark", 10, None)
    with pytest.raises(TrainingError, match="engine must be"):
        choose_engine("gpu", 10, spark)  # type: ignore[arg-type]
