"""FeatureSet (incremental, live) and compute_features_batch (the reference the Spark job
re-implements) agree on real klines, and the spec is pinned."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import msgspec
import pandas as pd
import pytest
from market_files import BTC_2020, BTC_2025, ETH_2025, OHLCV_ONLY, recorded_klines

from bot.features.batch import compute_features_batch
from bot.features.rolling import TakerBuyRatio, taker_buy_share
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
    bars = recorded_klines(BTC_2025)[:70]
    features = FeatureSet()
    first_value: dict[str, int] = {}
    for index, bar in enumerate(bars, start=1):
        for name, value in features.update(bar).items():
            if value is not None:
                first_value.setdefault(name, index)
    assert first_value == {
        "ret_1": 2, "ret_5": 6, "ret_15": 16, "log_return": 2, "sma_5": 5, "sma_10": 10, "ema_12": 12,
        "ema_26": 26, "macd": 26, "macd_signal": 34, "macd_hist": 34, "rsi_14": 15, "atr_14": 14,
        "bb_upper_20": 20, "bb_middle_20": 20, "bb_lower_20": 20, "volatility_60": 61, "volume_zscore_60": 60,
        "taker_buy_ratio": 1, "trade_count": 1, "hour_of_day": 1, "day_of_week": 1,
    }


def test_the_spec_is_contract_a_in_its_order() -> None:
    assert FEATURE_SPEC.names == (
        "ret_1", "ret_5", "ret_15", "log_return", "sma_5", "sma_10", "ema_12", "ema_26", "macd", "macd_signal",
        "macd_hist", "rsi_14", "atr_14", "bb_upper_20", "bb_middle_20", "bb_lower_20", "volatility_60",
        "volume_zscore_60", "taker_buy_ratio", "trade_count", "hour_of_day", "day_of_week",
    )
    by_name = {definition.name: definition for definition in FEATURE_SPEC.definitions}
    # Every parameter lives in the definition (the Spark job builds its columns from them).
    assert (by_name["macd_hist"].fast, by_name["macd_hist"].slow, by_name["macd_hist"].signal) == (12, 26, 9)
    assert (by_name["bb_lower_20"].period, by_name["bb_lower_20"].deviations, by_name["bb_lower_20"].output) == (20, 2.0, "lower")
    assert by_name["ret_15"].period == 15 and by_name["volatility_60"].period == 60


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
    assert FEATURE_SPEC.version == "3"
    assert FEATURE_SPEC.fingerprint == "ce8f229916d795ea"
    assert len(set(FEATURE_SPEC.names)) == len(FEATURE_SPEC.names)
    for name, change in (("volume_zscore_60", {"period": 30}), ("bb_upper_20", {"deviations": 2.5}), ("macd", {"signal": 8})):
        changed = FeatureSpec(
            version="3",
            definitions=tuple(
                msgspec.structs.replace(definition, **change) if definition.name == name else definition
                for definition in FEATURE_SPEC.definitions
            ),
        )
        assert changed.names == FEATURE_SPEC.names and changed.fingerprint != FEATURE_SPEC.fingerprint, name


def test_a_spec_with_a_repeated_name_or_missing_parameter_is_refused() -> None:
    repeated = FeatureSpec(version="x", definitions=(FEATURE_SPEC.definitions[0], FEATURE_SPEC.definitions[0]))
    with pytest.raises(ValueError, match="repeats a name"):
        FeatureSet(repeated)
    missing = FeatureSpec(version="x", definitions=(FeatureDefinition(name="sma", kind=FeatureKind.SMA),))
    with pytest.raises(ValueError, match="needs a period"):
        FeatureSet(missing)
    no_signal = FeatureDefinition(name="m", kind=FeatureKind.MACD, fast=12, slow=26, output="macd")
    with pytest.raises(ValueError, match="m: kind macd needs a signal"):
        FeatureSet(FeatureSpec(version="x", definitions=(no_signal,)))
    bad_output = FeatureDefinition(name="b", kind=FeatureKind.BOLLINGER, period=20, deviations=2.0, output="top")
    with pytest.raises(ValueError, match="needs an output among"):
        FeatureSet(FeatureSpec(version="x", definitions=(bad_output,)))


def test_outputs_of_one_calculator_are_consistent_on_real_klines() -> None:
    """macd_hist = macd - macd_signal, the bands are symmetric about the middle, and a different
    parameter set gets its own calculator (a 10-period band next to the 20-period one)."""
    bars = recorded_klines(ETH_2025)
    narrow = FeatureDefinition(name="bb_middle_10", kind=FeatureKind.BOLLINGER, period=10, deviations=2.0, output="middle")
    features = FeatureSet(FeatureSpec(version="x", definitions=(*FEATURE_SPEC.definitions, narrow)))
    for bar in bars:
        values = features.update(bar)
    assert values["macd_hist"] == values["macd"] - values["macd_signal"]
    assert values["bb_upper_20"] - values["bb_middle_20"] == pytest.approx(values["bb_middle_20"] - values["bb_lower_20"], rel=1e-12)
    closes = [float(bar.close) for bar in bars]
    assert values["bb_middle_10"] == pytest.approx(sum(closes[-10:]) / 10, rel=1e-12)
    assert values["bb_middle_20"] == pytest.approx(sum(closes[-20:]) / 20, rel=1e-12)


@pytest.mark.parametrize("file_name", [BTC_2025, BTC_2020, ETH_2025])
def test_per_bar_features_match_the_bar_on_real_klines(file_name: str) -> None:
    """taker_buy_ratio = taker buy base / volume of the bar itself, trade_count the bar's count,
    hour/day the UTC open time's (datetime as the independent reference)."""
    bars = recorded_klines(file_name)
    features = FeatureSet()
    for bar in bars:
        values = features.update(bar)
        assert values["taker_buy_ratio"] == float(bar.taker_buy_base_volume) / float(bar.volume)
        assert values["trade_count"] == float(bar.trade_count)
        opened = datetime.fromtimestamp(bar.open_time / 1e9, UTC)
        assert (values["hour_of_day"], values["day_of_week"]) == (opened.hour, opened.weekday())
    ratios = compute_column(bars, "taker_buy_ratio")
    assert max(ratios) - min(ratios) > 0.2  # real flow varies: the feature is not a constant


def compute_column(bars, name: str) -> list[float | None]:  # type: ignore[no-untyped-def]
    return [values[name] for values in compute_features_batch(bars)]


def taker_ratio_reference(bars, period: int) -> list[float | None]:
    """pandas: the rolling mean of taker_buy_base / volume (0.5 for a zero-volume bar); a window
    with a missing share (NaN) is NaN, which is what min_periods=period gives."""
    volume = pd.Series([float(bar.volume) for bar in bars])
    taker = pd.Series([math.nan if bar.taker_buy_base_volume is None else float(bar.taker_buy_base_volume) for bar in bars])
    share = (taker / volume).where(volume != 0, 0.5).where(taker.notna())
    ratio = share.rolling(period, min_periods=period).mean()
    return [None if math.isnan(value) else float(value) for value in ratio]


@pytest.mark.parametrize("file_name", [BTC_2025, BTC_2020, ETH_2025])
def test_the_strategies_rolling_taker_buy_ratio_matches_pandas_on_real_klines(file_name: str) -> None:
    """TakerBuyRatio (the taker_flow strategy's window mean, not a spec feature since v3)."""
    bars = recorded_klines(file_name)
    ratio = TakerBuyRatio(20)
    live = [ratio.update(None if bar.taker_buy_base_volume is None else float(bar.taker_buy_base_volume), float(bar.volume)) for bar in bars]
    reference = taker_ratio_reference(bars, 20)
    assert [value is None for value in live] == [value is None for value in reference] == [True] * 19 + [False] * (len(bars) - 19)
    for value, expected in zip(live[19:], reference[19:]):
        assert value == pytest.approx(expected, rel=1e-9)
        assert 0.0 <= value <= 1.0
    assert max(live[19:]) - min(live[19:]) > 0.2


def test_taker_ratio_and_trade_count_are_unavailable_without_those_columns_and_the_rest_is_not() -> None:
    """The real OHLCV-only day: no taker or trade-count column, so no taker ratio or trade count;
    every other feature warms up, live = batch."""
    bars = recorded_klines(OHLCV_ONLY)
    features = FeatureSet()
    live = [dict(features.update(bar)) for bar in bars]
    batch = compute_features_batch(bars)
    unavailable = {"taker_buy_ratio", "trade_count"}
    assert all(values[name] is None for values in live + batch for name in unavailable)
    assert all(value is not None for name, value in live[-1].items() if name not in unavailable)
    assert live[-1]["bb_upper_20"] == pytest.approx(batch[-1]["bb_upper_20"], rel=1e-12)


def test_a_bar_without_taker_data_has_no_taker_ratio_and_its_neighbours_do() -> None:
    """Real BTCUSDT bars with the taker column blanked on bar 100 (as a source without it would
    give that bar): the per-bar ratio is None there only, live = batch; the strategies' rolling
    TakerBuyRatio is None from bar 100 to 119 (bars 101-120 are the first full window after the
    hole), as pandas says."""
    bars = list(recorded_klines(BTC_2025)[:200])
    bars[100] = msgspec.structs.replace(bars[100], taker_buy_base_volume=None, taker_buy_quote_volume=None)
    features = FeatureSet()
    live = [features.update(bar)["taker_buy_ratio"] for bar in bars]
    assert [index for index, value in enumerate(live) if value is None] == [100]
    assert live == compute_column(bars, "taker_buy_ratio")
    ratio = TakerBuyRatio(20)
    rolling = [ratio.update(None if bar.taker_buy_base_volume is None else float(bar.taker_buy_base_volume), float(bar.volume)) for bar in bars]
    reference = taker_ratio_reference(bars, 20)
    assert [index for index, value in enumerate(rolling) if value is None] == list(range(19)) + list(range(100, 120))
    assert [value is None for value in reference] == [value is None for value in rolling]
    for value, expected in zip(rolling, reference):
        if value is not None:
            assert value == pytest.approx(expected, rel=1e-9)


def test_a_zero_volume_bar_counts_as_balanced_flow_and_impossible_taker_volumes_are_refused() -> None:
    """CONSTRUCTED inputs (not market data) for the edge cases of the share itself."""
    assert taker_buy_share(0.0, 0.0) == 0.5
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
