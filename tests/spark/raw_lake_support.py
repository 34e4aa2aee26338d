"""Test setup only: writes contract B raw klines partitions from real recorded klines with pyarrow.

The daemon-side writer lives in bot/lake (another change); this helper writes the same layout so
the Spark tests do not depend on it: one file per UTC date, `<source>-<first>-<last>.parquet`,
prices and quantities as the recording's decimal text.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

RECORDINGS = Path(__file__).resolve().parents[2] / "bot" / "sim" / "recordings"
RECORDING_FILES = {
    "BTCUSDT": RECORDINGS / "spot_BTCUSDT_1m_2025-09-22_2025-09-25.csv",
    "ETHUSDT": RECORDINGS / "spot_ETHUSDT_1m_2025-09-22_2025-09-25.csv",
}
INGESTED_AT_NS = 1_758_844_800_000_000_000  # a fixed ingestion time keeps the files byte-stable

RAW_SCHEMA = pa.schema(
    [
        ("open_time_ms", pa.int64()),
        ("close_time_ms", pa.int64()),
        ("open", pa.string()),
        ("high", pa.string()),
        ("low", pa.string()),
        ("close", pa.string()),
        ("volume", pa.string()),
        ("quote_volume", pa.string()),
        ("trade_count", pa.int64()),
        ("taker_buy_base_volume", pa.string()),
        ("taker_buy_quote_volume", pa.string()),
        ("source", pa.string()),
        ("ingested_at_ns", pa.int64()),
    ]
)


def recorded_klines(symbol: str) -> pd.DataFrame:
    """The recording's rows with every decimal kept as text (as the exchange sent it)."""
    text = pd.read_csv(RECORDING_FILES[symbol], dtype=str, keep_default_na=False)
    return pd.DataFrame(
        {
            "open_time_ms": text["open_time_ms"].astype("int64"),
            "close_time_ms": text["close_time_ms"].astype("int64"),
            "open": text["open"],
            "high": text["high"],
            "low": text["low"],
            "close": text["close"],
            "volume": text["volume"],
            "quote_volume": text["quote_volume"],
            "trade_count": text["trades"].astype("int64"),
            "taker_buy_base_volume": text["taker_buy_base"],
            "taker_buy_quote_volume": text["taker_buy_quote"],
        }
    )


def utc_dates(open_time_ms: pd.Series) -> pd.Series:
    return pd.to_datetime(open_time_ms, unit="ms", utc=True).dt.strftime("%Y-%m-%d")


def write_raw(lake_root: Path, symbol: str, rows: pd.DataFrame, source: str, interval: str = "1m", ingested_at_ns: int = INGESTED_AT_NS) -> list[Path]:
    """One raw file per UTC date of `rows`; returns the files written."""
    written = []
    for date, day in rows.groupby(utc_dates(rows["open_time_ms"]), sort=True):
        day = day.sort_values("open_time_ms").assign(source=source, ingested_at_ns=ingested_at_ns)
        directory = lake_root / "raw" / "klines" / f"interval={interval}" / f"symbol={symbol}" / f"date={date}"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{source}-{day['open_time_ms'].iloc[0]}-{day['open_time_ms'].iloc[-1]}.parquet"
        table = pa.Table.from_pandas(day[RAW_SCHEMA.names], schema=RAW_SCHEMA, preserve_index=False)
        pq.write_table(table, path)
        written.append(path)
    return written


def float_bars(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows as feature_frame's input (floats parsed from the text, as Spark's cast does)."""
    return pd.DataFrame(
        {
            "open_time_ms": rows["open_time_ms"].to_numpy(),
            "high": rows["high"].astype(float).to_numpy(),
            "low": rows["low"].astype(float).to_numpy(),
            "close": rows["close"].astype(float).to_numpy(),
            "volume": rows["volume"].astype(float).to_numpy(),
            "taker_buy_base_volume": rows["taker_buy_base_volume"].astype(float).to_numpy(),
            "trade_count": rows["trade_count"].astype(float).to_numpy(),
        }
    )
