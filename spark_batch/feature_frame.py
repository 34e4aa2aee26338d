"""Contract A's features for one symbol's ordered bars, in one process with pandas and numpy.

Two uses: the single-process peer of the Spark job in the nightly benchmark, and the recursive
features (EMA, MACD, RSI, ATR) of the Spark job itself, which runs `recursive_features` per
symbol through applyInPandas. Rolling windows are vectorised (numpy sliding windows, two-pass
population std, no running totals that drift); the recursions are plain loops written exactly as
the daemon's incremental calculators step (seed = `math.fsum` mean of the first n inputs, then
one step per bar) so both give the same floats, not merely close ones.

Input frame columns: open_time_ms, high, low, close, volume (floats), taker_buy_base_volume and
trade_count (nullable), sorted by open_time_ms with no repeats. Output: open_time_ms then the
feature names, NaN where contract A says None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from bot.features.wilder import rsi_from_averages
from spark_batch.spec_table import FEATURE_TABLE, RECURSIVE_KINDS, FeatureRow

_CHUNK_ROWS = 65_536  # sliding-window rows per block: bounds memory to ~ chunk * period floats
MILLISECONDS_PER_HOUR = 3_600_000
MILLISECONDS_PER_DAY = 86_400_000
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; 0 = Monday


# ----- recursions (exact seeding, the daemon's step formulas) -----

def _seeded(values: Sequence[float], period: int, step) -> list[float]:
    """NaN for the first period-1 values, the fsum mean of the first `period` values at index
    period-1, then `step(previous, value)` for each later value."""
    series = [math.nan] * len(values)
    if len(values) < period:
        return series
    current = math.fsum(values[:period]) / period
    series[period - 1] = current
    for index in range(period, len(values)):
        current = step(current, values[index])
        series[index] = current
    return series


def exponential_average(values: Sequence[float], period: int) -> list[float]:
    alpha = 2.0 / (period + 1)
    return _seeded(values, period, lambda current, value: current + alpha * (value - current))


def wilder_average(values: Sequence[float], period: int) -> list[float]:
    return _seeded(values, period, lambda current, value: (current * (period - 1) + value) / period)


def relative_strength_index(closes: Sequence[float], period: int) -> list[float]:
    changes = [closes[index] - closes[index - 1] for index in range(1, len(closes))]
    gains = wilder_average([max(change, 0.0) for change in changes], period)
    losses = wilder_average([max(-change, 0.0) for change in changes], period)
    rsi = [math.nan if math.isnan(gain) else rsi_from_averages(gain, loss) for gain, loss in zip(gains, losses)]
    return [math.nan, *rsi] if closes else []


def average_true_range(highs: Sequence[float], lows: Sequence[float], closes: Sequence[float], period: int) -> list[float]:
    ranges = [highs[0] - lows[0]] if closes else []
    for index in range(1, len(closes)):
        previous = closes[index - 1]
        high, low = highs[index], lows[index]
        ranges.append(max(high - low, abs(high - previous), abs(low - previous)))
    return wilder_average(ranges, period)


def macd_lines(closes: Sequence[float], fast: int, slow: int, signal: int) -> tuple[list[float], list[float], list[float]]:
    """macd = EMA(fast) - EMA(slow); signal = EMA(signal) of macd seeded with the mean of the
    first `signal` macd values; hist = macd - signal."""
    fast_line, slow_line = exponential_average(closes, fast), exponential_average(closes, slow)
    macd = [fast_value - slow_value for fast_value, slow_value in zip(fast_line, slow_line)]
    start = max(fast, slow) - 1
    signal_line = [math.nan] * len(closes)
    if len(closes) > start:
        signal_line[start:] = exponential_average(macd[start:], signal)
    hist = [value - signal_value for value, signal_value in zip(macd, signal_line)]
    return macd, signal_line, hist


def recursive_features(bars: pd.DataFrame, table: Sequence[FeatureRow] = FEATURE_TABLE) -> pd.DataFrame:
    """The recursive features of `table` (EMA, MACD family, RSI, ATR) for ordered bars."""
    closes = bars["close"].astype("float64").tolist()
    columns: dict[str, list[float]] = {}
    macd_cache: dict[tuple[int, int, int], tuple[list[float], list[float], list[float]]] = {}
    for row in table:
        if row.kind not in RECURSIVE_KINDS:
            continue
        parameters = row.parameters
        if row.kind == "ema":
            columns[row.name] = exponential_average(closes, int(parameters["period"]))
        elif row.kind == "rsi":
            columns[row.name] = relative_strength_index(closes, int(parameters["period"]))
        elif row.kind == "atr":
            highs, lows = bars["high"].astype("float64").tolist(), bars["low"].astype("float64").tolist()
            columns[row.name] = average_true_range(highs, lows, closes, int(parameters["period"]))
        else:
            key = (int(parameters["fast"]), int(parameters["slow"]), int(parameters["signal"]))
            if key not in macd_cache:
                macd_cache[key] = macd_lines(closes, *key)
            macd, signal, hist = macd_cache[key]
            columns[row.name] = {"macd": macd, "macd_signal": signal, "macd_hist": hist}[row.kind]
    frame = pd.DataFrame(columns, index=bars.index, dtype="float64")
    frame.insert(0, "open_time_ms", bars["open_time_ms"].to_numpy())
    return frame


# ----- windows (vectorised) -----

def _rolling(values: np.ndarray, period: int, reduce) -> np.ndarray:
    """reduce(windows) per block of sliding windows ending at each index; NaN before the first
    full window. Blocks keep the (rows x period) views small on long histories."""
    result = np.full(len(values), np.nan)
    if len(values) < period:
        return result
    windows = sliding_window_view(values, period)
    for start in range(0, len(windows), _CHUNK_ROWS):
        block = windows[start:start + _CHUNK_ROWS]
        result[period - 1 + start:period - 1 + start + len(block)] = reduce(block)
    return result


def rolling_mean(values: np.ndarray, period: int) -> np.ndarray:
    return _rolling(values, period, lambda block: block.mean(axis=1))


def rolling_population_std(values: np.ndarray, period: int) -> np.ndarray:
    """Two-pass population std (ddof=0) of each window: mean first, then squared deviations."""
    return _rolling(values, period, lambda block: np.sqrt(((block - block.mean(axis=1, keepdims=True)) ** 2).mean(axis=1)))


def _shifted(values: np.ndarray, lag: int) -> np.ndarray:
    shifted = np.full(len(values), np.nan)
    if lag < len(values):
        shifted[lag:] = values[:len(values) - lag]
    return shifted


def _window_feature(row: FeatureRow, bars: pd.DataFrame, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    close, volume = arrays["close"], arrays["volume"]
    kind, parameters = row.kind, row.parameters
    if kind == "return":
        return close / _shifted(close, int(parameters["period"])) - 1.0
    if kind == "log_return":
        return arrays["log_return"]
    if kind == "sma":
        return rolling_mean(close, int(parameters["period"]))
    if kind in ("bb_upper", "bb_middle", "bb_lower"):
        period, deviations = int(parameters["period"]), float(parameters["deviations"])
        middle = rolling_mean(close, period)
        if kind == "bb_middle":
            return middle
        spread = deviations * rolling_population_std(close, period)
        return middle + spread if kind == "bb_upper" else middle - spread
    if kind == "volatility":
        period = int(parameters["period"])
        log_returns = arrays["log_return"]
        result = np.full(len(close), np.nan)
        result[1:] = rolling_population_std(log_returns[1:], period)
        return result
    if kind == "volume_zscore":
        period = int(parameters["period"])
        spread = rolling_population_std(volume, period)
        with np.errstate(divide="ignore", invalid="ignore"):
            zscore = (volume - rolling_mean(volume, period)) / spread
        return np.where(spread == 0.0, 0.0, zscore)
    if kind == "taker_buy_ratio":
        taker = arrays["taker_buy_base_volume"]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(volume == 0.0, 0.5, taker / volume)
        return np.where(np.isnan(taker), np.nan, ratio)
    if kind == "trade_count":
        return arrays["trade_count"]
    open_time = bars["open_time_ms"].to_numpy(dtype="int64")
    if kind == "hour_of_day":
        return ((open_time // MILLISECONDS_PER_HOUR) % 24).astype("float64")
    if kind == "day_of_week":
        return ((open_time // MILLISECONDS_PER_DAY + EPOCH_WEEKDAY) % 7).astype("float64")
    raise ValueError(f"feature {row.name}: unknown kind {kind!r}")


def _nullable(bars: pd.DataFrame, column: str) -> np.ndarray:
    if column not in bars:
        return np.full(len(bars), np.nan)
    return pd.to_numeric(bars[column], errors="raise").astype("float64").to_numpy(na_value=np.nan)


def compute_feature_frame(bars: pd.DataFrame, table: Sequence[FeatureRow] = FEATURE_TABLE) -> pd.DataFrame:
    """Every feature of `table` for one symbol's bars (ordered by open_time_ms, no repeats)."""
    open_times = bars["open_time_ms"].to_numpy(dtype="int64")
    if len(open_times) > 1 and not (np.diff(open_times) > 0).all():
        raise ValueError("bars must be ordered by open_time_ms without repeats")
    close = bars["close"].to_numpy(dtype="float64")
    arrays = {
        "close": close,
        "volume": bars["volume"].to_numpy(dtype="float64"),
        "log_return": np.log(close / _shifted(close, 1)),
        "taker_buy_base_volume": _nullable(bars, "taker_buy_base_volume"),
        "trade_count": _nullable(bars, "trade_count"),
    }
    recursive = recursive_features(bars, table)
    columns = {"open_time_ms": open_times}
    for row in table:
        columns[row.name] = recursive[row.name].to_numpy() if row.kind in RECURSIVE_KINDS else _window_feature(row, bars, arrays)
    return pd.DataFrame(columns, index=bars.index)
