"""The model registry on a real file system: atomic store and promote, pruning, and the checks
that refuse a corrupt file or a model trained on other features."""

from __future__ import annotations

import msgspec
import pytest

from bot.features.spec import FEATURE_SPEC
from bot.models.manifest import (
    LabelDefinition,
    ModelManifest,
    ModelRejected,
    TimeWindow,
    sha256_of,
    verify,
)
from bot.models.registry import CURRENT_FILE, ModelRegistry, RegistryError, version_for

# Not a trained model: the registry stores bytes and never parses them (the loader does).
MODEL_BYTES = b"{\"learner\": \"registry test payload\"}"


def manifest_for(version: str, data: bytes = MODEL_BYTES, **changes) -> ModelManifest:
    manifest = ModelManifest(
        name="signal", version=version, kind="classifier", created_at_ns=1_700_000_000_000_000_000,
        feature_names=FEATURE_SPEC.names, feature_spec_version=FEATURE_SPEC.version,
        feature_spec_fingerprint=FEATURE_SPEC.fingerprint,
        label=LabelDefinition(horizon_bars=10, interval="1m", kind="direction_3class", flat_threshold=0.002),
        training_window=TimeWindow(start_ms=0, end_ms=1), test_window=TimeWindow(start_ms=2, end_ms=3),
        symbols=("BTCUSDT",), data_fingerprint="0" * 64, metrics={"log_loss": 1.0},
        library_versions={"xgboost": "3"}, model_sha256=sha256_of(data),
    )
    return msgspec.structs.replace(manifest, **changes)


def test_store_promote_and_read_back(tmp_path):
    registry = ModelRegistry(tmp_path)
    first, second = "20260101T020000Z", "20260102T020000Z"
    registry.store(manifest_for(first), MODEL_BYTES)
    assert registry.current_version("signal") is None  # stored is not current
    registry.promote("signal", first)
    registry.store(manifest_for(second), MODEL_BYTES)
    assert registry.versions("signal") == [first, second]
    assert registry.current_version("signal") == first
    registry.promote("signal", second)
    assert (tmp_path / "signal" / CURRENT_FILE).read_text() == f"{second}\n"
    manifest, data = registry.read("signal", second)
    assert manifest == manifest_for(second) and data == MODEL_BYTES
    verify(manifest, data)
    # Nothing but the two versions and CURRENT is left behind (no staging directories).
    assert sorted(path.name for path in (tmp_path / "signal").iterdir()) == sorted([CURRENT_FILE, first, second])


def test_a_version_is_stored_once_and_only_known_versions_are_promoted(tmp_path):
    registry = ModelRegistry(tmp_path)
    registry.store(manifest_for("20260101T020000Z"), MODEL_BYTES)
    with pytest.raises(RegistryError, match="already stored"):
        registry.store(manifest_for("20260101T020000Z"), MODEL_BYTES)
    with pytest.raises(RegistryError, match="no stored version"):
        registry.promote("signal", "20260103T020000Z")
    with pytest.raises(RegistryError, match="sha256"):
        registry.store(manifest_for("20260104T020000Z"), MODEL_BYTES + b"x")
    assert registry.free_version("signal", 1_767_232_800_000_000_000) == "20260101T020000Z-2"
    assert version_for(1_767_232_800_000_000_000) == "20260101T020000Z"


def test_prune_keeps_the_newest_and_never_the_current(tmp_path):
    registry = ModelRegistry(tmp_path)
    versions = [f"2026010{day}T020000Z" for day in range(1, 6)]
    for version in versions:
        registry.store(manifest_for(version), MODEL_BYTES)
    registry.promote("signal", versions[0])  # an old model still current (newer ones not promoted)
    assert registry.prune("signal", keep=2) == versions[1:3]
    assert registry.versions("signal") == [versions[0], *versions[3:]]


def test_corrupt_files_and_other_features_are_refused(tmp_path):
    registry = ModelRegistry(tmp_path)
    version = "20260101T020000Z"
    path = registry.store(manifest_for(version), MODEL_BYTES)
    (path / "model.ubj").write_bytes(MODEL_BYTES[:-3])  # truncated on disk
    manifest, data = registry.read("signal", version)
    with pytest.raises(ModelRejected, match="sha256"):
        verify(manifest, data)
    wrong_list = manifest_for(version, feature_names=FEATURE_SPEC.names[:-1])
    with pytest.raises(ModelRejected, match="feature list differs.*missing"):
        verify(wrong_list, MODEL_BYTES)
    old_spec = manifest_for(version, feature_spec_version="1")
    with pytest.raises(ModelRejected, match="feature spec 1"):
        verify(old_spec, MODEL_BYTES)
    (path / "manifest.json").write_bytes(b"{not json")
    with pytest.raises(ModelRejected, match="not a valid model manifest"):
        registry.read("signal", version)
    (tmp_path / "signal" / CURRENT_FILE).write_text("../../etc\n")
    with pytest.raises(RegistryError, match="not a version"):
        registry.current_version("signal")
