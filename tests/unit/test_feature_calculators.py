"""The incremental calculators against independent pandas formulas on real klines, and
constructed cases with values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from market_files import BTC_2020, BTC_2025, ETH_2025, recorded_klines
from pandas_reference import bars_frame, seeded_ewm, wilder_atr, wilder_rsi

from bot.features.averages import (
    ExponentialMovingAverage,
    MovingAverageConvergenceDivergence,
    SimpleMovingAverage,
)
from bot.features.bands import BollingerBands
from bot.features.rolling import (
    HighestHigh,
    LogReturn,
    LowestLow,
    PeriodReturn,
    RollingVolatility,
    VolumeZScore,
)
from bot.features.wilder import AverageTrueRange, RelativeStrengthIndex
from bot.features.window import population_std

FILES = [BTC_2025, BTC_2020, ETH_2025]


def frame(file_name: str) -> pd.DataFrame:
    return bars_frame(recorded_klines(file_name))


def incremental(calculator, columns: list[pd.Series]) -> list[float]:  # type: ignore[no-untyped-def]
    values = [calculator.update(*row) for row in zip(*columns)]
    return [math.nan if value is None else value for value in values]


def assert_series_close(actual: list[float], expected: pd.Series) -> None:
    expected_values = expected.to_numpy(dtype=float)
    assert np.array_equal(np.isnan(actual), np.isnan(expected_values)), "warm-up differs"
    np.testing.assert_allclose(actual, expected_values, rtol=1e-9, atol=1e-9, equal_nan=True)


@pytest.mark.parametrize("file_name", FILES)
def test_moving_averages_match_pandas(file_name: str) -> None:
    data = frame(file_name)
    for period in (1, 7, 20, 50):
        assert_series_close(incremental(SimpleMovingAverage(period), [data.close]), data.close.rolling(period).mean())
        assert_series_close(
            incremental(ExponentialMovingAverage(period), [data.close]),
            seeded_ewm(data.close, period, 2 / (period + 1)),
        )


@pytest.mark.parametrize("file_name", FILES)
def test_wilder_rsi_and_atr_match_pandas(file_name: str) -> None:
    data = frame(file_name)
    period = 14
    assert_series_close(incremental(RelativeStrengthIndex(period), [data.close]), wilder_rsi(data.close, period))
    assert_series_close(
        incremental(AverageTrueRange(period), [data.high, data.low, data.close]), wilder_atr(data, period)
    )


@pytest.mark.parametrize("file_name", FILES)
def test_rolling_features_match_pandas(file_name: str) -> None:
    data = frame(file_name)
    returns = np.log(data.close / data.close.shift(1))
    assert_series_close(incremental(LogReturn(), [data.close]), returns)
    for period in (5, 20):
        assert_series_close(incremental(HighestHigh(period), [data.high]), data.high.rolling(period).max())
        assert_series_close(incremental(LowestLow(period), [data.low]), data.low.rolling(period).min())
        assert_series_close(incremental(PeriodReturn(period), [data.close]), data.close / data.close.shift(period) - 1)
        assert_series_close(incremental(RollingVolatility(period), [data.close]), returns.rolling(period).std(ddof=0))
        volume = data.volume
        zscore = (volume - volume.rolling(period).mean()) / volume.rolling(period).std(ddof=0)
        assert_series_close(incremental(VolumeZScore(period), [volume]), zscore)


def test_constructed_values_worked_by_hand() -> None:
    """CONSTRUCTED inputs."""
    sma = SimpleMovingAverage(3)
    assert [sma.update(value) for value in (1.0, 2.0, 3.0, 10.0)] == [None, None, 2.0, 5.0]
    ema = ExponentialMovingAverage(3)  # alpha 0.5, seeded with mean(1, 2, 3) = 2
    assert [ema.update(value) for value in (1.0, 2.0, 3.0, 10.0)] == [None, None, 2.0, 6.0]
    rsi = RelativeStrengthIndex(2)
    # changes +1, -1: avg gain 0.5, avg loss 0.5 -> 50; then +2: gain (0.5+2)/2, loss 0.5/2 -> RS 5
    assert [rsi.update(value) for value in (10.0, 11.0, 10.0)] == [None, None, 50.0]
    assert rsi.update(12.0) == pytest.approx(100 - 100 / 6)
    rising = RelativeStrengthIndex(3)
    assert [rising.update(float(value)) for value in range(5)][-1] == 100.0
    flat = RelativeStrengthIndex(3)
    assert [flat.update(5.0) for _ in range(5)][-1] == 50.0
    atr = AverageTrueRange(2)
    assert atr.update(11.0, 9.0, 10.0) is None  # first true range: high - low = 2
    assert atr.update(15.0, 14.0, 14.5) == 3.5  # gap up: |15 - 10| = 5; (2 + 5) / 2
    assert atr.update(14.0, 13.0, 13.5) == 2.5  # |13 - 14.5| = 1.5; (3.5 * 1 + 1.5) / 2
    volume = VolumeZScore(3)
    assert [volume.update(4.0) for _ in range(3)][-1] == 0.0  # a flat window is no surprise
    assert volume.update(10.0) == pytest.approx((10 - 6) / math.sqrt(8))  # population std of 4, 4, 10
    assert population_std([1.0, 3.0]) == 1.0
    change = PeriodReturn(2)
    assert [change.update(value) for value in (100.0, 50.0, 110.0, 55.0)] == [None, None, 110.0 / 100.0 - 1, 55.0 / 50.0 - 1]
    bands = BollingerBands(2, 3.0)  # mean 2, population std 1 -> 2 +/- 3
    assert bands.update(1.0) is None and bands.update(3.0) == 2.0 and (bands.upper, bands.lower) == (5.0, -1.0)
    macd = MovingAverageConvergenceDivergence(1, 2, 2)  # EMA(1) is the close itself
    assert macd.update(10.0) is None
    assert macd.update(12.0) == 1.0 and macd.signal_value is None  # EMA(2) seeded with 11
    # EMA(2): 11 + 2/3 * (15 - 11) = 13.666...; line 15 - 13.666 = 1.333; signal seeded mean(1, 1.333)
    assert macd.update(15.0) == pytest.approx(4 / 3)
    assert macd.signal_value == pytest.approx(7 / 6) and macd.histogram == pytest.approx(4 / 3 - 7 / 6)
    returns = LogReturn()
    assert returns.update(100.0) is None and returns.update(110.0) == pytest.approx(math.log(1.1))


def test_calculators_refuse_bad_input() -> None:
    with pytest.raises(ValueError, match="period must be an integer of at least 1"):
        SimpleMovingAverage(0)
    with pytest.raises(ValueError, match="at least 2"):
        RollingVolatility(1)
    with pytest.raises(ValueError, match="fast period below the slow one"):
        MovingAverageConvergenceDivergence(26, 12, 9)
    with pytest.raises(ValueError, match="deviations must be a positive number"):
        BollingerBands(20, 0.0)
    with pytest.raises(ValueError, match="positive prices"):
        PeriodReturn(1).update(0.0)
    with pytest.raises(ValueError, match="finite"):
        ExponentialMovingAverage(3).update(math.nan)
    with pytest.raises(ValueError, match="below its low"):
        AverageTrueRange(3).update(9.0, 10.0, 9.5)
    with pytest.raises(ValueError, match="positive prices"):
        log = LogReturn()
        log.update(1.0)
        log.update(0.0)
