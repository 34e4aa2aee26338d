"""The loader on real XGBoost models trained on real BTCUSDT bars (tests/model_support.py): a good
model loads and predicts in place exactly as Booster.predict(DMatrix) does; every kind of bad
model is refused with a reason that says what is wrong."""

from __future__ import annotations

import asyncio
import time

import numpy
import pytest
import xgboost

from bot.features.spec import FEATURE_SPEC
from bot.models.holder import ModelHolder, pinned_holder
from bot.models.loader import load_directory, load_version
from bot.models.manifest import ModelRejected, sha256_of
from bot.models.registry import ModelRegistry
from bot.models.stall import LoopLagProbe, measure_swap_stall
from bot.models.watcher import load_off_loop
from model_support import feature_table, store, train

VERSION = "20250924T020000Z"
TRAIN_END = 2_500  # bars [0, 2500) train; the rest is unseen


@pytest.fixture(scope="module")
def classifier_bytes() -> bytes:
    return train("classifier", TRAIN_END)


@pytest.fixture(scope="module")
def regressor_bytes() -> bytes:
    return train("regressor", TRAIN_END)


def unseen_rows() -> numpy.ndarray:
    _, features, _ = feature_table()
    rows = features[TRAIN_END:]
    return rows[~numpy.isnan(rows).any(axis=1)]


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_a_good_model_loads_and_in_place_prediction_equals_dmatrix_prediction(tmp_path, kind, classifier_bytes, regressor_bytes):
    model_bytes = classifier_bytes if kind == "classifier" else regressor_bytes
    registry = ModelRegistry(tmp_path)
    manifest = store(registry, "signal", VERSION, kind, model_bytes, TRAIN_END)
    model = load_version(registry, "signal", VERSION)
    assert model.manifest == manifest and model.version == VERSION
    assert model.booster.num_features() == len(FEATURE_SPEC.names)

    rows = unseen_rows()
    assert len(rows) > 1_500
    reference = xgboost.Booster(model_file=bytearray(model_bytes)).predict(xgboost.DMatrix(rows))
    in_place = numpy.array([model.predict(row) for row in rows])  # one row at a time, as the strategy does
    expected = reference if kind == "classifier" else reference.reshape(-1, 1)
    assert in_place.shape == expected.shape == ((len(rows), 3) if kind == "classifier" else (len(rows), 1))
    numpy.testing.assert_array_equal(in_place, expected)
    if kind == "classifier":
        numpy.testing.assert_allclose(in_place.sum(axis=1), 1.0, rtol=1e-6)
        assert len(set(in_place.argmax(axis=1).tolist())) >= 2  # the model says more than one thing


def test_a_truncated_file_whose_sha256_matches_is_refused_by_the_parse(tmp_path, classifier_bytes):
    corrupt = classifier_bytes[: len(classifier_bytes) * 2 // 3]
    registry = ModelRegistry(tmp_path)
    store(registry, "signal", VERSION, "classifier", corrupt, TRAIN_END)  # manifest sha256 = corrupt bytes'
    with pytest.raises(ModelRejected, match=f"signal {VERSION}: XGBoost cannot parse model.ubj"):
        load_version(registry, "signal", VERSION)


def test_a_file_that_is_not_the_manifests_is_refused_by_its_sha256(tmp_path, classifier_bytes, regressor_bytes):
    registry = ModelRegistry(tmp_path)
    store(registry, "signal", VERSION, "classifier", classifier_bytes, TRAIN_END)
    (tmp_path / "signal" / VERSION / "model.ubj").write_bytes(regressor_bytes)  # replaced on disk afterwards
    with pytest.raises(ModelRejected, match=r"model file sha256 [0-9a-f]{16}\.\.\. does not match"):
        load_version(registry, "signal", VERSION)


def test_a_model_trained_on_other_features_is_refused(tmp_path):
    names = FEATURE_SPEC.names
    model_bytes = train("classifier", TRAIN_END, columns=tuple(range(len(names) - 1)))  # the last feature left out
    registry = ModelRegistry(tmp_path)
    store(registry, "signal", VERSION, "classifier", model_bytes, TRAIN_END, feature_names=names[:-1])
    with pytest.raises(ModelRejected, match=rf"feature list differs from the daemon's spec \(missing \['{names[-1]}'\]\)"):
        load_version(registry, "signal", VERSION)


def test_a_model_of_another_spec_version_is_refused(tmp_path, classifier_bytes):
    registry = ModelRegistry(tmp_path)
    store(registry, "signal", VERSION, "classifier", classifier_bytes, TRAIN_END, feature_spec_version="0")
    with pytest.raises(ModelRejected, match=f"trained on feature spec 0 .* the daemon computes spec {FEATURE_SPEC.version}"):
        load_version(registry, "signal", VERSION)


def test_a_regressor_labelled_as_a_classifier_fails_its_warm_up_prediction(tmp_path, regressor_bytes):
    registry = ModelRegistry(tmp_path)
    store(registry, "signal", VERSION, "classifier", regressor_bytes, TRAIN_END)
    with pytest.raises(ModelRejected, match="a classifier must give 3 output"):
        load_version(registry, "signal", VERSION)


def test_a_pinned_directory_loads_once_and_a_missing_one_is_refused(tmp_path, classifier_bytes):
    registry = ModelRegistry(tmp_path)
    store(registry, "signal", VERSION, "classifier", classifier_bytes, TRAIN_END)
    directory = registry.directory("signal", VERSION)
    assert load_directory(directory).manifest.model_sha256 == sha256_of(classifier_bytes)
    holder = pinned_holder(directory)
    assert holder.model is not None and holder.model.version == VERSION
    assert pinned_holder(str(directory)) is holder  # every symbol's strategy shares it
    with pytest.raises(ModelRejected, match="cannot read the model version"):
        load_directory(tmp_path / "signal" / "20250101T000000Z")


async def test_the_load_runs_off_the_loop_and_the_swap_is_one_assignment(tmp_path, classifier_bytes):
    registry = ModelRegistry(tmp_path)
    store(registry, "signal", VERSION, "classifier", classifier_bytes, TRAIN_END)
    holder = ModelHolder("signal")
    model = await load_off_loop(registry, "signal", VERSION)
    assert holder.swap(model) is None and holder.model is model and holder.swaps == 1
    stall = await measure_swap_stall(tmp_path, "signal", VERSION)
    assert stall.version == VERSION and stall.probe_samples >= 1
    # The parse and the warm-up run in a worker thread: the loop keeps ticking meanwhile. Loose
    # bound (2 shared cores, other test runs): what matters is it is far below a blocking load.
    assert stall.worst_loop_lag_seconds < 0.05, stall


async def test_the_loop_lag_probe_measures_a_deliberate_50_ms_block():
    async with LoopLagProbe() as probe:
        await asyncio.sleep(0.01)
        time.sleep(0.05)  # blocks the loop on purpose
    assert 0.045 <= probe.worst_seconds < 0.5, probe.worst_seconds
    assert probe.samples >= 3
