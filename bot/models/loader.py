"""Turning a stored version into a model the strategy can call, or refusing it with a reason.

Everything here is synchronous and blocking (file reads, XGBoost parsing): the daemon runs it in
a worker thread (`bot.models.watcher.load_off_loop`), a backtest runs it once at start-up. The
checks go from cheap to expensive, and every one of them runs before anything is swapped in:

1. the manifest parses and names this model and version (registry.read);
2. the file's sha256 is the manifest's, and the manifest's feature list, spec version and
   fingerprint are the daemon's (manifest.verify);
3. XGBoost parses the bytes;
4. the booster expects exactly as many features as the manifest lists (and the same names,
   when it recorded names), and one prediction on a row of NaNs works and has the shape the
   manifest's kind promises: a file that parses but cannot predict is refused here, not on the
   first live bar.

This module imports no asyncio, so the ML strategy may use it to pin a version for a backtest.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy
import xgboost

from bot.features.spec import FEATURE_SPEC, FeatureSpec
from bot.models.manifest import MANIFEST_FILE, ModelManifest, ModelRejected, decode_manifest, verify
from bot.models.registry import ModelRegistry

CLASS_COUNT = 3  # 0 = down, 1 = flat, 2 = up (LabelDefinition)


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A verified, warmed-up booster and the manifest it came with. Immutable once built: the
    holder swaps whole LoadedModels, so a strategy never sees a half-replaced model."""

    manifest: ModelManifest
    booster: xgboost.Booster
    loaded_at_ns: int

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def is_classifier(self) -> bool:
        return self.manifest.kind == "classifier"

    def predict(self, values: numpy.ndarray) -> numpy.ndarray:
        """One row of feature values (in manifest order) -> a 1-D array: for a classifier the
        probabilities of down, flat, up; for a regressor one predicted forward return.

        `inplace_predict` reads the array directly: no DMatrix is built per event."""
        row = values.reshape(1, -1) if values.ndim == 1 else values
        return numpy.asarray(self.booster.inplace_predict(row)).reshape(-1)


def load_from_bytes(
    manifest: ModelManifest, model_bytes: bytes, spec: FeatureSpec = FEATURE_SPEC, loaded_at_ns: int | None = None
) -> LoadedModel:
    """Checks 2-4 above; ModelRejected(reason) on any failure."""
    verify(manifest, model_bytes, spec)
    label = f"{manifest.name} {manifest.version}"
    booster = xgboost.Booster(params={"nthread": 1})  # one core: the event loop's thread predicts
    try:
        booster.load_model(bytearray(model_bytes))
    except xgboost.core.XGBoostError as error:
        raise ModelRejected(f"{label}: XGBoost cannot parse {manifest.model_file} ({_first_line(error)})") from None
    booster.set_param({"nthread": 1})
    expected = len(manifest.feature_names)
    if booster.num_features() != expected:
        raise ModelRejected(
            f"{label}: the booster expects {booster.num_features()} features, the manifest lists {expected}"
        )
    if booster.feature_names is not None and tuple(booster.feature_names) != tuple(manifest.feature_names):
        raise ModelRejected(f"{label}: the booster's feature names are not the manifest's")
    model = LoadedModel(manifest, booster, loaded_at_ns if loaded_at_ns is not None else time.time_ns())
    try:
        output = model.predict(numpy.full(expected, numpy.nan))
    except xgboost.core.XGBoostError as error:
        raise ModelRejected(f"{label}: a warm-up prediction failed ({_first_line(error)})") from None
    outputs = CLASS_COUNT if model.is_classifier else 1
    if output.shape != (outputs,):
        raise ModelRejected(
            f"{label}: a {manifest.kind} must give {outputs} output(s) per row, the booster gave {output.shape[0]}"
        )
    if not all(math.isfinite(value) for value in output.tolist()):
        raise ModelRejected(f"{label}: the warm-up prediction is not finite ({output.tolist()})")
    return model


def load_version(registry: ModelRegistry, name: str, version: str, spec: FeatureSpec = FEATURE_SPEC) -> LoadedModel:
    """Check 1, then `load_from_bytes`. Blocking: run it in a thread from the event loop."""
    manifest, model_bytes = registry.read(name, version)
    return load_from_bytes(manifest, model_bytes, spec)


def load_directory(directory: str | Path, spec: FeatureSpec = FEATURE_SPEC) -> LoadedModel:
    """A version directory (`<root>/<name>/<version>/`) loaded whether or not it is current:
    the nightly pipeline backtests a stored candidate this way before promoting it."""
    folder = Path(directory)
    try:
        manifest = decode_manifest((folder / MANIFEST_FILE).read_bytes(), str(folder / MANIFEST_FILE))
        model_bytes = (folder / manifest.model_file).read_bytes()
    except OSError as error:
        raise ModelRejected(f"{folder}: cannot read the model version ({error.strerror or error})") from None
    return load_from_bytes(manifest, model_bytes, spec)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
