"""FeatureSet (incremental, live) and compute_features_batch (the reference the Spark job
re-implements) agree on real klines, and the spec is pinned."""

from __future__ import annotations

import math

import msgspec
import pytest
from market_files import BTC_2020, BTC_2025, ETH_2025, recorded_klines

from bot.features.batch import compute_features_batch
from bot.features.spec import (
    FEATURE_SPEC,
    FeatureDefinition,
    FeatureKind,
    FeatureSet,
    FeatureSpec,
)


@pytest.mark.parametrize("file_name", [BTC_2025, BTC_2020, ETH_2025])
def test_incremental_and_batch_agree_on_real_klines(file_name: str) -> None:
    bars = recorded_klines(file_name)
    features = FeatureSet()
    live = [dict(features.update(bar)) for bar in bars]
    batch = compute_features_batch(bars)
    assert len(live) == len(batch) == len(bars)
    worst = 0.0
    for index, (live_values, batch_values) in enumerate(zip(live, batch)):
        assert live_values.keys() == batch_values.keys() == set(FEATURE_SPEC.names)
        for name, value in live_values.items():
            reference = batch_values[name]
            assert (value is None) == (reference is None), f"{name} warm-up differs at bar {index}"
            if value is not None and reference is not None:
                assert math.isclose(value, reference, rel_tol=1e-9, abs_tol=1e-9), (name, index, value, reference)
                worst = max(worst, abs(value - reference))
    # Every feature is warm by the end, so the comparison covered all of them.
    assert all(value is not None for value in live[-1].values())
    assert worst < 1e-6


def test_warm_up_lengths_follow_the_definitions() -> None:
    bars = recorded_klines(BTC_2025)[:40]
    features = FeatureSet()
    first_value: dict[str, int] = {}
    for index, bar in enumerate(bars, start=1):
        for name, value in features.update(bar).items():
            if value is not None:
                first_value.setdefault(name, index)
    assert first_value == {
        "sma_20": 20, "ema_12": 12, "ema_26": 26, "rsi_14": 15, "atr_14": 14, "highest_high_20": 20,
        "lowest_low_20": 20, "log_return": 2, "volatility_20": 21, "volume_zscore_20": 20,
    }


def test_feature_set_refuses_open_repeated_and_older_bars() -> None:
    first, second = recorded_klines(BTC_2025)[:2]
    features = FeatureSet()
    with pytest.raises(ValueError, match="not closed"):
        features.update(msgspec.structs.replace(first, is_closed=False))
    features.update(second)
    for stale in (second, first):
        with pytest.raises(ValueError, match="not after the last one"):
            features.update(stale)


def test_spec_is_pinned_so_an_edit_must_bump_the_version() -> None:
    """If this fails you changed a feature definition: bump FEATURE_SPEC.version and update the
    Spark job, then the fingerprint here."""
    assert FEATURE_SPEC.version == "1"
    assert FEATURE_SPEC.fingerprint == "7bae8b8a94f3908f"
    assert len(set(FEATURE_SPEC.names)) == len(FEATURE_SPEC.names)
    changed = FeatureSpec(
        version="1",
        definitions=(*FEATURE_SPEC.definitions[:-1], FeatureDefinition(name="volume_zscore_20", kind=FeatureKind.VOLUME_ZSCORE, period=30)),
    )
    assert changed.fingerprint != FEATURE_SPEC.fingerprint


def test_a_spec_with_a_repeated_name_or_missing_period_is_refused() -> None:
    repeated = FeatureSpec(version="x", definitions=(FEATURE_SPEC.definitions[0], FEATURE_SPEC.definitions[0]))
    with pytest.raises(ValueError, match="repeats a name"):
        FeatureSet(repeated)
    missing = FeatureSpec(version="x", definitions=(FeatureDefinition(name="sma", kind=FeatureKind.SMA),))
    with pytest.raises(ValueError, match="needs a period"):
        FeatureSet(missing)
