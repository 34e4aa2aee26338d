"""What a stored model says about itself, and the checks the daemon makes before trusting it.

A model is only as good as the agreement between the features it was trained on and the features
the daemon computes now. The manifest records the feature names, the spec's version and
fingerprint, and the sha256 of the model file; `verify` refuses a model on any mismatch, so a
model trained on other features (or a file corrupted on disk) never reaches the strategy.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import msgspec

from bot.features.spec import FEATURE_SPEC, FeatureSpec

MODEL_FILE = "model.ubj"  # XGBoost's own binary (UBJSON) format
MANIFEST_FILE = "manifest.json"

ModelKind = Literal["classifier", "regressor"]
LabelKind = Literal["forward_return", "direction_3class"]


class LabelDefinition(msgspec.Struct, frozen=True, kw_only=True):
    """The target: the return from a bar's close to the close `horizon_bars` bars later. The
    classifier's classes are 0 = down (return < -flat_threshold), 1 = flat, 2 = up
    (return > flat_threshold)."""

    horizon_bars: int
    interval: str
    kind: LabelKind
    flat_threshold: float


class TimeWindow(msgspec.Struct, frozen=True, kw_only=True):
    """Bar open times in epoch milliseconds, both inclusive."""

    start_ms: int
    end_ms: int


class ModelManifest(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    version: str
    kind: ModelKind
    created_at_ns: int
    feature_names: tuple[str, ...]
    feature_spec_version: str
    feature_spec_fingerprint: str
    label: LabelDefinition
    training_window: TimeWindow
    test_window: TimeWindow
    symbols: tuple[str, ...]
    data_fingerprint: str
    metrics: dict[str, float]
    library_versions: dict[str, str]
    model_file: str = MODEL_FILE
    model_sha256: str


class ModelRejected(Exception):
    """A model the daemon must not trade on; the message says why, for the log and the alert."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_manifest(manifest: ModelManifest) -> bytes:
    return msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n"


def decode_manifest(data: bytes, where: str = "manifest.json") -> ModelManifest:
    try:
        return msgspec.json.decode(data, type=ModelManifest)
    except msgspec.DecodeError as error:  # ValidationError is a DecodeError
        raise ModelRejected(f"{where}: not a valid model manifest ({error})") from None


def verify(manifest: ModelManifest, model_bytes: bytes, spec: FeatureSpec = FEATURE_SPEC) -> None:
    """Raise ModelRejected unless the file is the one the manifest describes and the model was
    trained on exactly the features `spec` computes, in the same order."""
    digest = sha256_of(model_bytes)
    if digest != manifest.model_sha256:
        raise ModelRejected(
            f"{manifest.name} {manifest.version}: model file sha256 {digest[:16]}... does not match the "
            f"manifest's {manifest.model_sha256[:16]}... (corrupt or replaced file)"
        )
    if manifest.feature_spec_version != spec.version or manifest.feature_spec_fingerprint != spec.fingerprint:
        raise ModelRejected(
            f"{manifest.name} {manifest.version}: trained on feature spec {manifest.feature_spec_version} "
            f"({manifest.feature_spec_fingerprint}), the daemon computes spec {spec.version} ({spec.fingerprint})"
        )
    if tuple(manifest.feature_names) != spec.names:
        missing = [name for name in spec.names if name not in manifest.feature_names]
        extra = [name for name in manifest.feature_names if name not in spec.names]
        detail = ", ".join(part for part in (
            f"missing {missing}" if missing else "", f"unknown {extra}" if extra else "",
            "same names in another order" if not missing and not extra else "",
        ) if part)
        raise ModelRejected(f"{manifest.name} {manifest.version}: feature list differs from the daemon's spec ({detail})")
