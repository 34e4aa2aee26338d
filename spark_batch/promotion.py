"""The promotion gate: a new model replaces the current one only if it does better on the same
recent window.

The candidate was trained on everything before the most recent test window (minus the purge);
the current model (the registry's CURRENT) is scored on the very same rows. Lower is better on
the primary metric: log-loss for a classifier, RMSE for a regressor. The current model is only
a fair opponent when the daemon could trade on it and it answers the same question: it must pass
`verify` (file intact, trained on today's feature spec) and share the candidate's kind and label
definition. When it does not, or when there is no current model, the candidate must instead beat
the naive baseline (see evaluation.baseline_score), and the reason says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bot.features.spec import FEATURE_SPEC
from bot.models.manifest import LabelDefinition, ModelRejected, verify
from bot.models.registry import ModelRegistry, RegistryError
from spark_batch.evaluation import baseline_score, primary_metric, score
from spark_batch.training import Kind, predict


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    candidate_score: float | None
    current_score: float | None
    baseline_score: float | None
    metric: str = ""
    current_version: str | None = None


def refused_for_failure(error: str) -> PromotionDecision:
    """The decision of a run that failed: never a promotion."""
    return PromotionDecision(False, f"run failed: {error}", None, None, None)


def _current_opponent(
    registry: ModelRegistry, name: str, kind: Kind, label: LabelDefinition
) -> tuple[str | None, bytes | None, str]:
    """(version, model bytes, why not) for the current model; bytes None when it cannot be scored."""
    try:
        version = registry.current_version(name)
    except RegistryError as error:
        return None, None, f"the CURRENT pointer is unreadable ({error})"
    if version is None:
        return None, None, "there is no current model"
    try:
        manifest, model_bytes = registry.read(name, version)
        verify(manifest, model_bytes, FEATURE_SPEC)
    except ModelRejected as error:
        return version, None, f"the current model {version} cannot be scored: {error}"
    if manifest.kind != kind:
        return version, None, f"the current model {version} is a {manifest.kind}, not a {kind}"
    if manifest.label != label:
        return version, None, f"the current model {version} predicts another label ({manifest.label}), not ({label})"
    return version, model_bytes, ""


def decide(
    *,
    registry: ModelRegistry,
    name: str,
    kind: Kind,
    label: LabelDefinition,
    candidate_bytes: bytes,
    test_rows: pd.DataFrame,
    prior: np.ndarray | None,
    candidate_metrics: dict[str, float] | None = None,
) -> PromotionDecision:
    """Score the candidate and the current model on `test_rows` (labelled, features complete);
    `prior` is the candidate's training class frequencies (classifier baseline)."""
    metric = primary_metric(kind)
    if test_rows.empty:
        return PromotionDecision(False, "the recent test window has no labelled rows", None, None, None, metric)
    metrics = candidate_metrics or score(kind, test_rows, predict(candidate_bytes, test_rows), prior)
    candidate = metrics[metric]
    baseline = baseline_score(kind, metrics)
    if not math.isfinite(candidate):
        return PromotionDecision(False, f"candidate {metric} is {candidate}", candidate, None, baseline, metric)
    version, current_bytes, why_not = _current_opponent(registry, name, kind, label)
    if current_bytes is None:
        beaten = candidate < baseline
        verdict = "beats" if beaten else "does not beat"
        return PromotionDecision(
            beaten,
            f"{why_not}; candidate {metric} {candidate:.6g} {verdict} the naive baseline {baseline:.6g}",
            candidate, None, baseline, metric, version,
        )
    current = score(kind, test_rows, predict(current_bytes, test_rows), prior)[metric]
    beaten = candidate < current
    verdict = "beats" if beaten else "does not beat"
    return PromotionDecision(
        beaten,
        f"candidate {metric} {candidate:.6g} {verdict} the current model {version}'s {current:.6g} on the same "
        f"window ({len(test_rows)} rows; naive baseline {baseline:.6g})",
        candidate, current, baseline, metric, version,
    )
