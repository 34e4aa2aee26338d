"""Independent pandas formulas used as references for the features and strategies."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bot.domain.events import Kline


def bars_frame(bars: tuple[Kline, ...] | list[Kline]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "high": [float(bar.high) for bar in bars],
            "low": [float(bar.low) for bar in bars],
            "close": [float(bar.close) for bar in bars],
            "volume": [float(bar.volume) for bar in bars],
        }
    )


def seeded_ewm(values: pd.Series, period: int, alpha: float) -> pd.Series:
    """EMA seeded with the mean of the first `period` (non-missing) values, via pandas' ewm."""
    result = pd.Series(np.nan, index=values.index)
    valid = values.dropna()
    if len(valid) < period:
        return result
    seeded = valid.iloc[period - 1:].copy()
    seeded.iloc[0] = valid.iloc[:period].mean()
    result.loc[seeded.index] = seeded.ewm(alpha=alpha, adjust=False).mean()
    return result


def wilder_rsi(close: pd.Series, period: int) -> pd.Series:
    change = close.diff()
    gains = seeded_ewm(change.clip(lower=0), period, 1 / period)
    losses = seeded_ewm((-change).clip(lower=0), period, 1 / period)
    return 100 - 100 / (1 + gains / losses)


def wilder_atr(frame: pd.DataFrame, period: int) -> pd.Series:
    previous_close = frame.close.shift(1)
    true_range = pd.concat(
        [frame.high - frame.low, (frame.high - previous_close).abs(), (frame.low - previous_close).abs()], axis=1
    ).max(axis=1)
    return seeded_ewm(true_range, period, 1 / period)


def remembered_side(difference: pd.Series) -> pd.Series:
    """-1/+1 for below/above; a touch (0) keeps the side before it."""
    return np.sign(difference).replace(0, np.nan).ffill()


def crossings(difference: pd.Series) -> pd.Series:
    """+1 where the remembered side turns from -1 to +1, -1 for the opposite turn, else 0."""
    side = remembered_side(difference)
    turn = side.diff().fillna(0)
    return np.sign(turn).astype(int)
