"""What the raw layer already holds, per symbol and date: what backfill and the archive skip.

Coverage reads the key column (open time or trade id) of every finished file of a partition, so
it is exact: a file whose name spans a range with a hole inside (an exchange outage) does not
claim the missing bars. Blocking I/O: call it off the event loop.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from bot.lake.layout import KLINES, LakeLayout
from bot.lake.records import KEY_COLUMNS, SCHEMAS


class RawCoverage:
    def __init__(self, layout: LakeLayout) -> None:
        self.layout = layout

    def keys(self, kind: str, symbol: str, date: str, interval: str | None = None) -> set[int]:
        """Open times (ms) of klines, or trade / aggregate trade ids, held for one symbol and date."""
        column = KEY_COLUMNS[kind]
        held: set[int] = set()
        for item in self.layout.files(kind, symbol, date, interval):
            table = pq.read_table(item.path, columns=[column], filesystem=self.layout.filesystem)
            held.update(table.column(column).to_pylist())
        return held

    def kline_open_times(self, interval: str, symbol: str, date: str) -> set[int]:
        return self.keys(KLINES, symbol, date, interval)

    def read(self, kind: str, symbol: str, date: str, interval: str | None = None) -> pa.Table:
        """Every row of a partition, in key order (all sources; duplicates across sources kept)."""
        tables = [pq.read_table(item.path, filesystem=self.layout.filesystem, schema=SCHEMAS[kind])
                  for item in self.layout.files(kind, symbol, date, interval)]
        if not tables:
            return SCHEMAS[kind].empty_table()
        return pa.concat_tables(tables).sort_by([(KEY_COLUMNS[kind], "ascending"), ("source", "ascending")])
