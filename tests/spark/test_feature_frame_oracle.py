"""The single-process feature frame against TA-Lib (contract A's oracle column) on real klines,
and the session's package shipping. No Spark session needed here."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest
from raw_lake_support import float_bars, recorded_klines

from spark_batch.feature_frame import compute_feature_frame
from spark_batch.session import is_local, package_archive
from spark_batch.spec_table import FEATURE_NAMES

WARM_UP_BARS = 1_000


def _talib_oracle(bars: pd.DataFrame) -> dict[str, np.ndarray]:
    talib = pytest.importorskip("talib")
    close, high, low = (bars[column].to_numpy(dtype="float64") for column in ("close", "high", "low"))
    macd, signal, hist = talib.MACD(close, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(close, 20, 2.0, 2.0, matype=0)
    volatility = np.full(len(close), np.nan)
    volatility[1:] = talib.STDDEV(np.log(close[1:] / close[:-1]), 60, 1.0)
    return {
        "ret_1": talib.ROCR(close, 1) - 1.0,
        "ret_5": talib.ROCR(close, 5) - 1.0,
        "ret_15": talib.ROCR(close, 15) - 1.0,
        "sma_5": talib.SMA(close, 5),
        "sma_10": talib.SMA(close, 10),
        "ema_12": talib.EMA(close, 12),
        "ema_26": talib.EMA(close, 26),
        "macd": macd,
        "macd_signal": signal,
        "macd_hist": hist,
        "rsi_14": talib.RSI(close, 14),
        "atr_14": talib.ATR(high, low, close, 14),
        "bb_upper_20": upper,
        "bb_middle_20": middle,
        "bb_lower_20": lower,
        "volatility_60": volatility,
    }


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_feature_frame_matches_talib_after_warm_up(symbol):
    bars = float_bars(recorded_klines(symbol))
    frame = compute_feature_frame(bars)
    close = bars["close"].to_numpy()[WARM_UP_BARS:]
    for name, expected in _talib_oracle(bars).items():
        ours, theirs = frame[name].to_numpy()[WARM_UP_BARS:], expected[WARM_UP_BARS:]
        assert not np.isnan(ours).any() and not np.isnan(theirs).any(), name
        difference = np.abs(ours - theirs)
        relative = np.divide(difference, np.abs(theirs), out=np.zeros_like(difference), where=theirs != 0)
        if name.startswith("macd"):
            # Crosses zero: relative error is unbounded near 0, so judge it against the price.
            assert (difference / close).max() <= 1e-12, name
        else:
            assert relative.max() <= 1e-9, (name, relative.max())


def test_feature_frame_non_talib_features_follow_their_definitions():
    bars = float_bars(recorded_klines("ETHUSDT"))
    frame = compute_feature_frame(bars)
    assert list(frame.columns) == ["open_time_ms", *FEATURE_NAMES]
    volume = bars["volume"].to_numpy()
    last = volume[-60:]
    assert frame["volume_zscore_60"].iloc[-1] == pytest.approx((last[-1] - last.mean()) / last.std(), rel=1e-12)
    assert frame["taker_buy_ratio"].iloc[-1] == bars["taker_buy_base_volume"].iloc[-1] / bars["volume"].iloc[-1]
    opened = pd.to_datetime(bars["open_time_ms"], unit="ms", utc=True)
    assert frame["hour_of_day"].tolist() == opened.dt.hour.astype(float).tolist()
    assert frame["day_of_week"].tolist() == opened.dt.day_of_week.astype(float).tolist()
    assert frame["trade_count"].tolist() == bars["trade_count"].tolist()


def test_bars_without_taker_or_trade_columns_give_none_for_those_features():
    bars = float_bars(recorded_klines("BTCUSDT")).head(50).drop(columns=["taker_buy_base_volume", "trade_count"])
    frame = compute_feature_frame(bars)
    assert frame["taker_buy_ratio"].isna().all() and frame["trade_count"].isna().all()
    assert frame["sma_5"].notna().sum() == 46


def test_cluster_runs_get_the_project_packages_as_one_zip(tmp_path):
    archive = package_archive(tmp_path)
    names = zipfile.ZipFile(archive).namelist()
    assert "spark_batch/features.py" in names and "spark_batch/feature_frame.py" in names
    assert "bot/__init__.py" in names and any(name.startswith("strategies/") for name in names)
    assert all(name.endswith(".py") for name in names)
    assert is_local("local[2]") and is_local("local") and not is_local("spark://127.0.0.1:7077")
