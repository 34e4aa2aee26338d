"""FeatureSet (incremental, live) and compute_features_batch (the reference the Spark job
re-implements) agree on real klines, and the spec is pinned."""

from __future__ import annotations

import math

import msgspec
import pandas as pd
import pytest
from market_files import BTC_2020, BTC_2025, ETH_2025, OHLCV_ONLY, recorded_klines

from bot.features.batch import compute_features_batch
from bot.features.rolling import TakerBuyRatio
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
        "taker_buy_ratio_20": 20,
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
    assert FEATURE_SPEC.version == "2"
    assert FEATURE_SPEC.fingerprint == "659df25f0b34faf2"
    assert len(set(FEATURE_SPEC.names)) == len(FEATURE_SPEC.names)
    changed = FeatureSpec(
        version="2",
        definitions=tuple(
            FeatureDefinition(name=definition.name, kind=definition.kind, period=30)
            if definition.name == "volume_zscore_20" else definition
            for definition in FEATURE_SPEC.definitions
        ),
    )
    assert changed.names == FEATURE_SPEC.names and changed.fingerprint != FEATURE_SPEC.fingerprint


def test_a_spec_with_a_repeated_name_or_missing_period_is_refused() -> None:
    repeated = FeatureSpec(version="x", definitions=(FEATURE_SPEC.definitions[0], FEATURE_SPEC.definitions[0]))
    with pytest.raises(ValueError, match="repeats a name"):
        FeatureSet(repeated)
    missing = FeatureSpec(version="x", definitions=(FeatureDefinition(name="sma", kind=FeatureKind.SMA),))
    with pytest.raises(ValueError, match="needs a period"):
        FeatureSet(missing)


def taker_ratio_reference(bars, period: int) -> list[float | None]:
    """pandas: the rolling mean of taker_buy_base / volume (0.5 for a zero-volume bar); a window
    with a missing share (NaN) is NaN, which is what min_periods=period gives."""
    volume = pd.Series([float(bar.volume) for bar in bars])
    taker = pd.Series([math.nan if bar.taker_buy_base_volume is None else float(bar.taker_buy_base_volume) for bar in bars])
    share = (taker / volume).where(volume != 0, 0.5).where(taker.notna())
    ratio = share.rolling(period, min_periods=period).mean()
    return [None if math.isnan(value) else float(value) for value in ratio]


@pytest.mark.parametrize("file_name", [BTC_2025, BTC_2020, ETH_2025])
def test_taker_buy_ratio_matches_pandas_on_real_klines(file_name: str) -> None:
    bars = recorded_klines(file_name)
    features = FeatureSet()
    live = [features.update(bar)["taker_buy_ratio_20"] for bar in bars]
    reference = taker_ratio_reference(bars, 20)
    assert [value is None for value in live] == [value is None for value in reference] == [True] * 19 + [False] * (len(bars) - 19)
    for value, expected in zip(live[19:], reference[19:]):
        assert value == pytest.approx(expected, rel=1e-9)
        assert 0.0 <= value <= 1.0
    # Real flow varies: the feature is not a constant.
    assert max(live[19:]) - min(live[19:]) > 0.2


def test_taker_buy_ratio_is_unavailable_without_taker_columns_and_the_rest_is_not() -> None:
    """The real OHLCV-only day: no taker column, so no taker ratio; every other feature warms up."""
    bars = recorded_klines(OHLCV_ONLY)
    features = FeatureSet()
    live = [dict(features.update(bar)) for bar in bars]
    batch = compute_features_batch(bars)
    assert all(values["taker_buy_ratio_20"] is None for values in live + batch)
    assert all(value is not None for name, value in live[-1].items() if name != "taker_buy_ratio_20")
    assert live[-1]["sma_20"] == pytest.approx(batch[-1]["sma_20"], rel=1e-12)


def test_a_bar_without_taker_data_makes_the_ratio_unknown_until_a_full_window_follows() -> None:
    """Real BTCUSDT bars with the taker column blanked on bar 100 (as a source without it would
    give that bar): None from bar 100 to 119, a value again from bar 120 (bars 101-120 are the
    first full window after the hole); live = batch = pandas."""
    bars = list(recorded_klines(BTC_2025)[:200])
    bars[100] = msgspec.structs.replace(bars[100], taker_buy_base_volume=None, taker_buy_quote_volume=None)
    features = FeatureSet()
    live = [features.update(bar)["taker_buy_ratio_20"] for bar in bars]
    batch = [values["taker_buy_ratio_20"] for values in compute_features_batch(bars)]
    reference = taker_ratio_reference(bars, 20)
    unknown = [index for index, value in enumerate(live) if value is None]
    assert unknown == list(range(19)) + list(range(100, 120))
    assert [value is None for value in batch] == [value is None for value in reference] == [value is None for value in live]
    for value, batch_value, expected in zip(live, batch, reference):
        if value is not None:
            assert value == pytest.approx(batch_value, rel=1e-12) == pytest.approx(expected, rel=1e-9)


def test_a_zero_volume_bar_counts_as_balanced_flow_and_impossible_taker_volumes_are_refused() -> None:
    """CONSTRUCTED inputs (not market data) for the edge cases of the share itself."""
    ratio = TakerBuyRatio(2)
    assert ratio.update(0.0, 0.0) is None
    assert ratio.update(3.0, 4.0) == pytest.approx((0.5 + 0.75) / 2)
    assert ratio.update(None, 4.0) is None and ratio.value is None
    with pytest.raises(ValueError, match="between 0 and the volume"):
        TakerBuyRatio(2).update(5.0, 4.0)
    with pytest.raises(ValueError, match="between 0 and the volume"):
        TakerBuyRatio(2).update(-1.0, 4.0)
    with pytest.raises(ValueError, match="finite"):
        TakerBuyRatio(2).update(math.nan, 4.0)
