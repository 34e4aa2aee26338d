"""The history lake's raw layer (I/O): layout, Parquet writer, coverage, archive and backfill.

    layout = LakeLayout(lake_root(settings))       # a path or any pyarrow URI
    RawWriter(layout).write("klines", "BTCUSDT", rows, "rest", interval="1m")
    RawCoverage(layout).kline_open_times("1m", "BTCUSDT", "2025-09-22")
"""

from bot.lake.coverage import RawCoverage
from bot.lake.layout import AGG_TRADES, KLINES, TRADES, LakeLayout
from bot.lake.writer import RawWriter, WriteResult

__all__ = ["AGG_TRADES", "KLINES", "TRADES", "LakeLayout", "RawCoverage", "RawWriter", "WriteResult"]
