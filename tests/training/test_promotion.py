"""The training job and its promotion gate on real BTCUSDT/ETHUSDT bars (local engine).

The figures are whatever the real data gives; the tests assert that the gate acts on them
correctly (and the comments record what they were when the tests were written)."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import numpy as np
import pytest

from bot.features.spec import FEATURE_SPEC
from bot.models.manifest import (
    MANIFEST_FILE,
    MODEL_FILE,
    ModelManifest,
    TimeWindow,
    decode_manifest,
    sha256_of,
    verify,
)
from bot.models.registry import ModelRegistry
from spark_batch.evaluation import rows_in, score
from spark_batch.labels import DEFAULT_FLAT_THRESHOLD, label_frame
from spark_batch.train_job import train_and_publish
from spark_batch.training import TrainingError, TrainingParameters, predict
from training.lake_support import training_frame

DAY_NS = 86_400 * 10**9
NOW_NS = 1_758_844_800 * 10**9  # 2025-09-26T00:00:00Z, the night after the recording
GENTLE = TrainingParameters(n_estimators=20, max_depth=2, learning_rate=0.05)
EAGER = TrainingParameters(n_estimators=20, max_depth=3, learning_rate=0.1)
GREEDY = TrainingParameters(n_estimators=200, max_depth=8, learning_rate=0.5, min_child_weight=0.0, reg_lambda=0.0)  # memorises a short history


def _run(registry: ModelRegistry, frame, *, kind="classifier", now_ns=NOW_NS, parameters=GENTLE, **options):
    return train_and_publish(
        frame, registry=registry, name=f"direction-{kind}", kind=kind, horizon=10, threshold=DEFAULT_FLAT_THRESHOLD,
        engine="local", now_ns=now_ns, keep=options.pop("keep", 5), folds=options.pop("folds", 2),
        parameters=parameters, **options,
    )


def test_first_model_is_promoted_because_it_beats_the_baseline(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    report = _run(registry, training_frame())
    decision = report.decision
    # Written with: candidate log-loss 0.3306 vs the training class frequencies' 0.3466.
    assert decision.candidate_score < decision.baseline_score
    assert decision.promote and report.promoted
    assert "there is no current model" in decision.reason and "beats the naive baseline" in decision.reason
    assert registry.current_version(report.name) == report.version == "20250926T000000Z"

    manifest, model_bytes = registry.read(report.name, report.version)
    verify(manifest, model_bytes)  # the daemon would accept it
    assert manifest.kind == "classifier" and manifest.created_at_ns == NOW_NS
    assert manifest.feature_names == FEATURE_SPEC.names and manifest.feature_spec_version == FEATURE_SPEC.version
    assert manifest.feature_spec_fingerprint == FEATURE_SPEC.fingerprint
    assert (manifest.label.horizon_bars, manifest.label.interval, manifest.label.kind) == (10, "1m", "direction_3class")
    assert manifest.label.flat_threshold == DEFAULT_FLAT_THRESHOLD
    assert manifest.symbols == ("BTCUSDT", "ETHUSDT")
    recent = report.folds[-1].plan
    assert manifest.test_window == TimeWindow(start_ms=recent.test.start_ms, end_ms=recent.test.end_ms)
    assert manifest.training_window.end_ms == recent.test.start_ms - 11 * 60_000  # the purge
    assert re.fullmatch(r"[0-9a-f]{64}", manifest.data_fingerprint)
    assert set(manifest.library_versions) == {"xgboost", "pyspark", "python", "tradebot"}
    assert manifest.metrics["log_loss"] == decision.candidate_score
    assert manifest.metrics["log_loss_prior"] == decision.baseline_score
    assert "walk_forward_log_loss" in manifest.metrics and "walk_forward_accuracy_always_flat" in manifest.metrics
    assert manifest.model_sha256 == sha256_of(model_bytes)
    assert report.rows_training == report.folds[-1].train_rows

    # The stored model really scores what the manifest says on the recent window.
    labelled = label_frame(training_frame(), horizon=10).dropna()
    window = rows_in(labelled, recent.test)
    assert score("classifier", window, predict(model_bytes, window), _prior(labelled, recent))["log_loss"] == pytest.approx(
        decision.candidate_score, rel=1e-12
    )
    text = report.render()
    assert "PROMOTED" in text and "fold 2" in text and "log_loss_prior" in text
    print(text)


def _prior(labelled, plan) -> np.ndarray:
    counts = np.bincount(rows_in(labelled, plan.train)["direction"].astype(int), minlength=3)
    return counts / counts.sum()


def test_a_model_that_does_not_beat_the_baseline_is_stored_not_promoted(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    report = _run(registry, training_frame(), kind="regressor", parameters=EAGER)
    decision = report.decision
    # Written with: RMSE 0.001651 vs the zero-return forecast's 0.001564 (no edge).
    assert decision.candidate_score >= decision.baseline_score
    assert not decision.promote and not report.promoted
    assert "does not beat the naive baseline" in decision.reason
    assert registry.versions(report.name) == [report.version]
    assert registry.current_version(report.name) is None
    assert "stored, not promoted" in report.render()


def test_a_candidate_worse_than_the_current_model_is_refused(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    frame = training_frame()
    first = _run(registry, frame)
    assert first.promoted
    current_manifest = registry.load_manifest(first.name, first.version)
    # Constructed to be worse: tomorrow's candidate sees only the last 1,500 bars of each symbol and
    # is a greedy model (deep trees, no regularisation, a high learning rate) that memorises them;
    # the current model, trained gently on more history, scores better on the same recent rows.
    recent = frame.groupby("symbol", group_keys=False).tail(1500)
    second = _run(registry, recent, now_ns=NOW_NS + DAY_NS, parameters=GREEDY)
    window = second.folds[-1].plan.test
    assert current_manifest.training_window.end_ms < window.start_ms  # the current model never saw this window
    decision = second.decision
    assert decision.current_version == first.version
    assert decision.current_score is not None and decision.candidate_score >= decision.current_score
    assert not decision.promote
    assert f"does not beat the current model {first.version}" in decision.reason
    assert registry.current_version(first.name) == first.version
    assert registry.versions(first.name) == [first.version, second.version]
    # The current model's score is its own score on the same rows.
    labelled = label_frame(recent, horizon=10).dropna()
    rows = rows_in(labelled, window)
    _, current_bytes = registry.read(first.name, first.version)
    expected = score("classifier", rows, predict(current_bytes, rows), _prior(labelled, second.folds[-1].plan))["log_loss"]
    assert decision.current_score == pytest.approx(expected, rel=1e-12)


def test_a_current_model_on_other_features_cannot_be_scored(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    first = _run(registry, training_frame())
    manifest, model_bytes = registry.read(first.name, first.version)
    stale = msgspec.structs.replace(
        manifest, version="20250925T000000Z", feature_names=tuple(reversed(manifest.feature_names))
    )
    registry.store(stale, model_bytes)
    registry.promote(first.name, stale.version)
    second = _run(registry, training_frame(), now_ns=NOW_NS + DAY_NS)
    assert "the current model 20250925T000000Z cannot be scored" in second.decision.reason
    assert "feature list differs" in second.decision.reason
    assert second.decision.current_score is None
    assert second.decision.promote == (second.decision.candidate_score < second.decision.baseline_score)


def test_signal_backtest_figures_reach_the_manifest_and_a_failing_one_stores_nothing(tmp_path: Path) -> None:
    seen: list[tuple[ModelManifest, TimeWindow]] = []

    def backtest(directory: Path, window: TimeWindow) -> dict[str, float]:
        manifest = decode_manifest((directory / MANIFEST_FILE).read_bytes())
        model_bytes = (directory / MODEL_FILE).read_bytes()
        verify(manifest, model_bytes)
        seen.append((manifest, window))
        return {"net_return": -0.0123, "trades": 7}

    registry = ModelRegistry(tmp_path)
    report = _run(registry, training_frame(), signal_backtest=backtest)
    stored = registry.load_manifest(report.name, report.version)
    assert seen and seen[0][1] == stored.test_window
    assert stored.metrics["backtest_net_return"] == -0.0123 and stored.metrics["backtest_trades"] == 7.0
    assert report.backtest_metrics == {"net_return": -0.0123, "trades": 7.0}
    assert "signal backtest: net_return -0.0123" in report.render()

    def broken(directory: Path, window: TimeWindow) -> dict[str, float]:
        raise RuntimeError("backtest engine crashed")

    other = ModelRegistry(tmp_path / "other")
    with pytest.raises(TrainingError, match="signal backtest of the candidate failed, nothing stored: backtest engine crashed"):
        _run(other, training_frame(), signal_backtest=broken)
    assert other.versions("direction-classifier") == []
    assert other.current_version("direction-classifier") is None


def test_same_input_same_model_and_manifest_bytes(tmp_path: Path) -> None:
    reports = [_run(ModelRegistry(tmp_path / str(index)), training_frame()) for index in range(2)]
    files = [(report.model_directory / MODEL_FILE, report.model_directory / MANIFEST_FILE) for report in reports]
    assert files[0][0].read_bytes() == files[1][0].read_bytes()
    assert files[0][1].read_bytes() == files[1][1].read_bytes()


def test_prune_keeps_the_current_version(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    first = _run(registry, training_frame())
    worse = training_frame().groupby("symbol", group_keys=False).tail(1500)
    later = [_run(registry, worse, now_ns=NOW_NS + day * DAY_NS, keep=2, parameters=GREEDY) for day in (1, 2, 3)]
    assert not any(report.promoted for report in later)
    assert [report.pruned for report in later] == [[], [], [later[0].version]]  # never the current one
    assert registry.current_version(first.name) == first.version
    assert registry.versions(first.name) == [first.version, later[1].version, later[2].version]
