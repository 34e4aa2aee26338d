"""`tradebot features --data FILE --out FILE.csv|.parquet`: the feature table of a klines file,
computed with the daemon's incremental engine (bot.features.table), one row per closed bar,
`open_time_ms` first, then the spec's features; an empty cell (CSV) or null (Parquet) where a
feature has no value yet or the file lacks its input.

The klines file is read by the backtest's loader (bot.backtest.data: Binance kline CSV with or
without a header, plain or gzipped, data.binance.vision files, Parquet with the CSV's columns),
so both commands accept the same files and refuse bad ones with the same messages.

Every refusal is one line on stderr and exit status 2; the table is written to a temporary file
next to the output and renamed, so the output path never holds a partial table.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.backtest.data import DataError, DataSpec, load_market_data
from bot.domain.events import Kline
from bot.features.spec import FEATURE_SPEC
from bot.features.table import FeatureRow, feature_columns, feature_rows

FORMATS = (".csv", ".parquet")


class FeatureCommandError(Exception):
    """Input or output the command cannot use; the message says which and why."""


def add_features_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "features", help="compute the feature table of a klines file with the daemon's incremental engine",
        description=f"Compute feature spec v{FEATURE_SPEC.version} for every closed bar of a klines file with the "
        "daemon's incremental engine; writes one row per bar, open_time_ms first, then one column per feature.",
    )
    parser.add_argument("--data", required=True, type=Path, metavar="FILE",
                        help="klines CSV (Binance columns, optionally gzipped) or Parquet with the same columns")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE.csv|FILE.parquet", help="the feature table to write")
    parser.add_argument("--symbol", help="the symbol, when the file name does not say (e.g. BTCUSDT)")
    parser.add_argument("--interval", help="the bar interval, when the file name does not say (e.g. 1m)")


def run_features_command(arguments: argparse.Namespace) -> int:
    try:
        writer = _writer(arguments.out)
        bars = load_klines(arguments.data, arguments.symbol, arguments.interval)
        rows = feature_rows(bars)
        write_atomically(arguments.out, lambda path: writer(path, rows))
    except (DataError, FeatureCommandError, ValueError) as error:
        print(f"tradebot features: error: {error}", file=sys.stderr)
        return 2
    print(f"tradebot features: {len(rows)} bars x {len(FEATURE_SPEC.names)} features (spec v{FEATURE_SPEC.version}) -> {arguments.out}")
    return 0


def load_klines(path: Path, symbol: str | None = None, interval: str | None = None) -> list[Kline]:
    """The closed klines of one symbol and interval in `path`, oldest first."""
    if symbol is not None and (not symbol.isalnum() or not symbol.isupper()):
        raise FeatureCommandError(f"--symbol {symbol}: expected an upper-case symbol such as BTCUSDT")
    data = load_market_data([DataSpec(path, symbol, interval)])
    for warning in data.warnings:
        print(f"tradebot features: warning: {warning}", file=sys.stderr)
    bars = [event for event in data.events if isinstance(event, Kline) and event.is_closed]
    series = sorted({(bar.symbol, bar.interval) for bar in bars})
    if not series:
        raise FeatureCommandError(f"{path}: holds no klines (features are computed from klines)")
    if len(series) > 1:
        listed = ", ".join(f"{name} {length}" for name, length in series)
        raise FeatureCommandError(f"{path}: holds several series ({listed}); a feature table is one symbol and interval")
    return bars


def _writer(out: Path) -> Callable[[Path, list[FeatureRow]], None]:
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise FeatureCommandError(f"--out {out}: unknown format {suffix or '(no extension)'!r}; use .csv or .parquet")
    if out.is_dir():
        raise FeatureCommandError(f"--out {out}: is a directory")
    if not out.parent.is_dir():
        raise FeatureCommandError(f"--out {out}: the directory {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise FeatureCommandError(f"--out {out}: the directory {out.parent} is not writable")
    return write_csv if suffix == ".csv" else write_parquet


def write_atomically(out: Path, write: Callable[[Path], None]) -> None:
    """`write` fills a temporary file next to `out`, which then replaces `out` in one rename."""
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as error:
        raise FeatureCommandError(f"--out {out}: cannot write there: {error.strerror}") from None
    os.close(descriptor)
    try:
        write(Path(temporary))
        os.replace(temporary, out)
    except OSError as error:
        raise FeatureCommandError(f"--out {out}: cannot write there: {error.strerror or error}") from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_csv(path: Path, rows: list[FeatureRow]) -> None:
    """Floats as their shortest round-trip text (repr), so reading the file back gives the
    very values the engine computed; None as an empty cell."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(feature_columns())
        for open_time_ms, values in rows:
            writer.writerow([open_time_ms, *("" if value is None else repr(value) for value in values)])


def write_parquet(path: Path, rows: list[FeatureRow]) -> None:
    """open_time_ms int64, every feature float64 (null where None); the spec's version and
    fingerprint in the schema's metadata."""
    import pyarrow  # imported here: only Parquet outputs pay for it
    import pyarrow.parquet

    columns = feature_columns()
    arrays = [pyarrow.array([open_time for open_time, _ in rows], type=pyarrow.int64())]
    arrays += [pyarrow.array([values[index] for _, values in rows], type=pyarrow.float64()) for index in range(len(columns) - 1)]
    metadata = {"feature_spec_version": FEATURE_SPEC.version, "feature_spec_fingerprint": FEATURE_SPEC.fingerprint}
    table = pyarrow.Table.from_arrays(arrays, names=list(columns)).replace_schema_metadata(metadata)
    pyarrow.parquet.write_table(table, path)
