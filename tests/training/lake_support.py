"""Real 1-minute klines (bot/sim/recordings, Binance spot BTCUSDT and ETHUSDT, 2025-09-22..25)
turned into a contract-B history lake: the clean klines layer (typed prices, gap marks) and the
features layer computed with the daemon's own incremental FeatureSet, written with pyarrow as
`<lake>/<layer>/interval=1m/symbol=<S>/date=<D>/part-0.parquet`."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bot.backtest.data import DataSpec, load_market_data
from bot.domain.events import Kline
from bot.features.spec import FEATURE_SPEC, FeatureSet

RECORDINGS = Path(__file__).resolve().parents[2] / "bot" / "sim" / "recordings"
SYMBOLS = ("BTCUSDT", "ETHUSDT")
MINUTE_MS = 60_000


@functools.cache
def klines(symbol: str) -> tuple[Kline, ...]:
    path = RECORDINGS / f"spot_{symbol}_1m_2025-09-22_2025-09-25.csv"
    return tuple(event for event in load_market_data([DataSpec(path)]).events if isinstance(event, Kline))


def clean_frame(symbol: str) -> pd.DataFrame:
    """The clean layer's columns for this symbol's bars (prices as float, as Spark's clean job types them)."""
    bars = klines(symbol)
    frame = pd.DataFrame({
        "open_time_ms": [bar.open_time // 1_000_000 for bar in bars],
        "close_time_ms": [bar.close_time // 1_000_000 for bar in bars],
        "open": [float(bar.open) for bar in bars],
        "high": [float(bar.high) for bar in bars],
        "low": [float(bar.low) for bar in bars],
        "close": [float(bar.close) for bar in bars],
        "volume": [float(bar.volume) for bar in bars],
        "trade_count": [bar.trade_count for bar in bars],
    })
    jumps = frame["open_time_ms"].diff().fillna(MINUTE_MS).astype("int64") // MINUTE_MS - 1
    frame["missing_bars_before"] = jumps.astype("int32")
    return frame


@functools.cache
def _features(symbol: str) -> pd.DataFrame:
    features = FeatureSet()
    rows = []
    for bar in klines(symbol):
        values = features.update(bar)
        rows.append({"open_time_ms": bar.open_time // 1_000_000, "symbol": symbol, **values})
    frame = pd.DataFrame(rows, columns=["open_time_ms", "symbol", *FEATURE_SPEC.names])
    for name in FEATURE_SPEC.names:
        frame[name] = frame[name].astype(float)
    frame["feature_spec_version"] = FEATURE_SPEC.version
    return frame


def features_frame(symbol: str) -> pd.DataFrame:
    return _features(symbol).copy()


def training_frame(symbols: tuple[str, ...] = SYMBOLS) -> pd.DataFrame:
    """What spark_batch.training_data reads back: features joined with close and gap marks."""
    parts = []
    for symbol in symbols:
        clean = clean_frame(symbol)[["open_time_ms", "close", "missing_bars_before"]]
        parts.append(features_frame(symbol).drop(columns="feature_spec_version").merge(clean, on="open_time_ms"))
    return pd.concat(parts, ignore_index=True)


def write_partitions(root: Path, layer: str, symbol: str, frame: pd.DataFrame) -> list[Path]:
    written = []
    dates = frame["open_time_ms"].map(lambda ms: datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d"))
    for date, rows in frame.groupby(dates, sort=True):
        directory = root / layer / "interval=1m" / f"symbol={symbol}" / f"date={date}"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "part-0.parquet"
        pq.write_table(pa.Table.from_pandas(rows.reset_index(drop=True), preserve_index=False), path)
        written.append(path)
    return written


def write_lake(root: Path, symbols: tuple[str, ...] = SYMBOLS) -> Path:
    for symbol in symbols:
        write_partitions(root, "clean/klines", symbol, clean_frame(symbol))
        write_partitions(root, "features", symbol, features_frame(symbol))
    return root
