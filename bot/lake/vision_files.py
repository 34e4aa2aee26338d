"""Kline files as data.binance.vision publishes them, read into raw-layer rows.

Names: `<SYMBOL>-<interval>-<YYYY-MM>.zip` (monthly) or `<SYMBOL>-<interval>-<YYYY-MM-DD>.zip`
(daily), each ZIP holding one CSV of the same name; the bare `.csv` is accepted too. Rows have no
header and 12 columns: open time, open, high, low, close, volume, close time, quote volume, trade
count, taker buy base volume, taker buy quote volume, ignore. Spot files from 2025 on give the two
times in MICROseconds, older ones in milliseconds: a time above 10**14 (year 5138 in ms, 1973 in
µs) is microseconds.

Prices and volumes are kept as the file's text (checked to be decimal numbers). Any row that does
not parse fails the whole read with the file and line named: nothing of a bad input is written.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bot.lake.records import Row

_NAME = re.compile(r"^(?P<symbol>[A-Z0-9]{2,20})-(?P<interval>\d+[smhdwM])-(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.(?P<extension>csv|zip)$")
_MICROSECONDS_ABOVE = 10**14
_TEXT_COLUMNS = {1: "open", 2: "high", 3: "low", 4: "close", 5: "volume", 7: "quote_volume",
                 9: "taker_buy_base_volume", 10: "taker_buy_quote_volume"}


class KlineFileError(ValueError):
    """A kline file that cannot be read: the message names the file (and line)."""


@dataclass(frozen=True, slots=True)
class KlineFile:
    path: Path
    symbol: str
    interval: str
    period: str  # YYYY-MM or YYYY-MM-DD

    def overlaps(self, first_date: str, last_date: str) -> bool:
        return self.period <= last_date[: len(self.period)] and self.period >= first_date[: len(self.period)]


def find_kline_files(directory: Path, symbols: tuple[str, ...], interval: str) -> list[KlineFile]:
    """The data.binance.vision kline files in a directory (not recursive) for these symbols and
    interval, sorted by symbol and period."""
    if not directory.is_dir():
        raise KlineFileError(f"{directory}: not a directory")
    found = []
    for path in sorted(directory.iterdir()):
        match = _NAME.match(path.name)
        if match and match["symbol"] in symbols and match["interval"] == interval:
            found.append(KlineFile(path, match["symbol"], match["interval"], match["period"]))
    return found


def read_kline_file(file: KlineFile, ingested_at_ns: int) -> list[Row]:
    """Every row of one file, as raw kline rows with source "file"."""
    if file.path.suffix == ".zip":
        try:
            with zipfile.ZipFile(file.path) as archive:
                members = [name for name in archive.namelist() if name.endswith(".csv")]
                if not members:
                    raise KlineFileError(f"{file.path}: the ZIP holds no .csv file")
                rows: list[Row] = []
                for member in sorted(members):
                    text = archive.read(member).decode("utf-8")
                    rows += _parse_csv(text, f"{file.path}!{member}", ingested_at_ns)
                return rows
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, UnicodeDecodeError) as error:
            raise KlineFileError(f"{file.path}: unreadable ZIP: {error}") from None
        except OSError as error:  # a CRC error of a damaged member, or the file vanished
            raise KlineFileError(f"{file.path}: unreadable ZIP: {error}") from None
    try:
        text = file.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise KlineFileError(f"{file.path}: unreadable: {error}") from None
    return _parse_csv(text, str(file.path), ingested_at_ns)


def _parse_csv(text: str, where: str, ingested_at_ns: int) -> list[Row]:
    rows: list[Row] = []
    for line_number, cells in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not cells:
            continue
        if line_number == 1 and cells[0].strip() == "open_time":
            continue  # some later Binance files carry a header line
        try:
            rows.append(_row(cells, ingested_at_ns))
        except ValueError as error:
            raise KlineFileError(f"{where}: line {line_number}: {error}: {','.join(cells)[:200]!r}") from None
    return rows


def _time_ms(cell: str, name: str) -> int:
    cell = cell.strip()
    if not cell.isdigit():
        raise ValueError(f"{name} {cell!r} is not an integer time")
    value = int(cell)
    return value // 1000 if value >= _MICROSECONDS_ABOVE else value


def _row(cells: list[str], ingested_at_ns: int) -> Row:
    if len(cells) != 12:
        raise ValueError(f"expected 12 columns, found {len(cells)}")
    row: Row = {"open_time_ms": _time_ms(cells[0], "open time"), "close_time_ms": _time_ms(cells[6], "close time")}
    if row["close_time_ms"] <= row["open_time_ms"]:
        raise ValueError("close time is not after open time")
    for index, name in _TEXT_COLUMNS.items():
        text = cells[index].strip()
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{name} {text!r} is not a decimal number") from None
        if not value.is_finite() or value < 0:
            raise ValueError(f"{name} {text!r} is not a finite non-negative number")
        row[name] = text
    count = cells[8].strip()
    if not count.isdigit():
        raise ValueError(f"trade count {count!r} is not an integer")
    row["trade_count"] = int(count)
    row["source"] = "file"
    row["ingested_at_ns"] = ingested_at_ns
    return row
