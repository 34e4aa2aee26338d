"""Feature spec v3 against TA-Lib (a test oracle only, never a runtime dependency) and numpy.

On real 1-minute klines, after a warm-up of 1,000 bars, every feature TA-Lib defines matches
TA-Lib's value to 1e-9 relative; the others match a numpy/pandas computation. A feature that
crosses zero (returns, the MACD family, z-scores) cannot always be compared relatively (a
value of 1e-13 next to TA-Lib's 2e-13 is equal for every purpose), so there a point also passes
when the absolute difference is below 1e-9 times the bar's close (price-valued features) or
1e-9 (unitless ones); the test prints how many points needed that floor, and the worst
relative error of each feature (run with -s to see the table).

TA-Lib seeds a few recursions differently from contract A (the ATR's first true range, the
MACD's fast EMA aligned with the slow one); those differences shrink geometrically and are far
below 1e-9 after the warm-up, which is what the warm-up is for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from market_files import BTC_2025, recorded_klines

from bot.features.spec import FEATURE_SPEC, FeatureSet

talib = pytest.importorskip("talib", reason="TA-Lib is a dev extra (the test oracle)")

WARM_UP = 1_000
TOLERANCE = 1e-9
FIL_2023 = "futures_um_FILUSDT_1m_2023-08-15_2023-08-20.csv"  # tests/data, see its SOURCES.md

# Each reference is (values, unit): unit "price" features are in the quote currency (the
# absolute floor scales with the close), "ratio" ones are unitless; None: no zero crossing, so
# relative only.


def talib_oracles(close: np.ndarray, high: np.ndarray, low: np.ndarray) -> dict[str, tuple[np.ndarray, str | None]]:
    log_returns = np.full(len(close), np.nan)
    log_returns[1:] = np.log(close[1:] / close[:-1])
    macd, signal, histogram = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
    upper, middle, lower = talib.BBANDS(close, timeperiod=20, nbdevup=2, nbdevdn=2, matype=0)
    return {
        "ret_1": (talib.ROCR(close, 1) - 1, "ratio"),
        "ret_5": (talib.ROCR(close, 5) - 1, "ratio"),
        "ret_15": (talib.ROCR(close, 15) - 1, "ratio"),
        "sma_5": (talib.SMA(close, 5), None),
        "sma_10": (talib.SMA(close, 10), None),
        "ema_12": (talib.EMA(close, 12), None),
        "ema_26": (talib.EMA(close, 26), None),
        "macd": (macd, "price"),
        "macd_signal": (signal, "price"),
        "macd_hist": (histogram, "price"),
        "rsi_14": (talib.RSI(close, 14), None),
        "atr_14": (talib.ATR(high, low, close, 14), None),
        "bb_upper_20": (upper, None),
        "bb_middle_20": (middle, None),
        "bb_lower_20": (lower, None),
        "volatility_60": (talib.STDDEV(log_returns, timeperiod=60, nbdev=1), None),
    }


def numpy_references(frame: pd.DataFrame) -> dict[str, tuple[np.ndarray, str | None]]:
    close, volume = frame.close.to_numpy(), frame.volume.to_numpy()
    log_return = np.full(len(close), np.nan)
    log_return[1:] = np.log(close[1:] / close[:-1])
    windows = np.lib.stride_tricks.sliding_window_view(volume, 60)
    spread = windows.std(axis=1)  # numpy's default ddof=0: the population std
    zscore = np.full(len(volume), np.nan)
    zscore[59:] = np.where(spread == 0, 0.0, (volume[59:] - windows.mean(axis=1)) / np.where(spread == 0, 1.0, spread))
    taker = frame.taker_buy_base.to_numpy()
    opened = pd.to_datetime(frame.open_time_ms, unit="ms", utc=True)
    return {
        "log_return": (log_return, "ratio"),
        "volume_zscore_60": (zscore, "ratio"),
        "taker_buy_ratio": (np.where(volume == 0, 0.5, taker / np.where(volume == 0, 1.0, volume)), None),
        "trade_count": (frame.trades.to_numpy(dtype=float), None),
        "hour_of_day": (opened.dt.hour.to_numpy(dtype=float), None),
        "day_of_week": (opened.dt.day_of_week.to_numpy(dtype=float), None),
    }


def compare(ours: np.ndarray, reference: np.ndarray, close: np.ndarray, unit: str | None) -> tuple[float, int, list[int]]:
    """(worst relative error, points that needed the absolute floor, indexes that fail)."""
    difference = np.abs(ours - reference)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(difference == 0, 0.0, difference / np.abs(reference))
    relative_ok = relative <= TOLERANCE
    if unit is None:
        floor_ok = np.zeros(len(ours), dtype=bool)
    else:
        floor_ok = difference <= TOLERANCE * (close if unit == "price" else 1.0)
    failing = np.flatnonzero(~(relative_ok | floor_ok) | np.isnan(ours) | np.isnan(reference))
    return float(np.max(relative)), int(np.sum(~relative_ok & floor_ok)), failing.tolist()


@pytest.mark.parametrize("file_name", [BTC_2025, FIL_2023])
def test_every_feature_matches_talib_or_numpy_after_the_warm_up(file_name: str) -> None:
    bars = recorded_klines(file_name)
    assert len(bars) > WARM_UP + 3_000
    features = FeatureSet()
    rows = [dict(features.update(bar)) for bar in bars]
    frame = pd.DataFrame(
        {
            "open_time_ms": [bar.open_time // 1_000_000 for bar in bars],
            "high": [float(bar.high) for bar in bars],
            "low": [float(bar.low) for bar in bars],
            "close": [float(bar.close) for bar in bars],
            "volume": [float(bar.volume) for bar in bars],
            "taker_buy_base": [float(bar.taker_buy_base_volume) for bar in bars],
            "trades": [bar.trade_count for bar in bars],
        }
    )
    close = frame.close.to_numpy()
    references = {**talib_oracles(close, frame.high.to_numpy(), frame.low.to_numpy()), **numpy_references(frame)}
    assert set(references) == set(FEATURE_SPEC.names)  # every feature has an oracle
    print(f"\n{file_name}: {len(bars) - WARM_UP} bars after a warm-up of {WARM_UP}")
    print(f"{'feature':<18} {'max relative error':>20} {'absolute floor used':>20}")
    for name in FEATURE_SPEC.names:
        reference, unit = references[name]
        ours = np.array([np.nan if row[name] is None else row[name] for row in rows], dtype=float)
        worst, floored, failing = compare(ours[WARM_UP:], reference[WARM_UP:], close[WARM_UP:], unit)
        print(f"{name:<18} {worst:>20.3e} {floored:>20}")
        assert failing == [], f"{name}: {len(failing)} bars differ, first at bar {WARM_UP + failing[0]}"
    # Real data, not a constant: the MACD and returns really cross zero here.
    for name in ("macd", "ret_1", "volume_zscore_60"):
        values = np.array([row[name] for row in rows[WARM_UP:]])
        assert values.min() < 0 < values.max(), name
