"""`tradebot features` as a user meets it: a real klines file in, a feature table out (CSV or
Parquet) holding exactly what the daemon's incremental FeatureSet computes, and clear refusals.

The reference is computed here from the same real file read by the tests' own CSV reader
(tests/market_files.py, independent of the command's loader), so a loader that dropped, reordered
or altered a bar would show.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pyarrow.parquet
import pytest
from market_files import BTC_2025, OHLCV_ONLY, recorded_klines

from bot.cli import main
from bot.features.spec import FEATURE_SPEC, FeatureSet
from bot.features_command import FeatureCommandError, write_atomically

REPO = Path(__file__).resolve().parents[2]
BTC_1M = REPO / "bot/sim/recordings" / BTC_2025
FIL_1M = REPO / "tests/data/futures_um_FILUSDT_1m_2023-08-15_2023-08-20.csv"
BTC_OHLCV_ONLY = REPO / "tests/data" / OHLCV_ONLY
BTC_TRADES = REPO / "tests/data/spot_BTCUSDT_trades_first600_2024-08-08T2354.csv"
COLUMNS = ["open_time_ms", *FEATURE_SPEC.names]


def features(*arguments: str) -> int:
    return main(["features", *arguments])


def expected_rows(file_name: str) -> list[tuple[int, dict[str, float | None]]]:
    feature_set = FeatureSet()
    return [(bar.open_time // 1_000_000, dict(feature_set.update(bar))) for bar in recorded_klines(file_name)]


def read_csv_table(path: Path) -> tuple[list[str], list[tuple[int, dict[str, float | None]]]]:
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [
            (int(cells[0]), {name: None if cell == "" else float(cell) for name, cell in zip(header[1:], cells[1:])})
            for cells in reader
        ]
    return header, rows


def test_csv_table_is_the_incremental_engines_values_bar_for_bar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "btc_features.csv"
    assert features("--data", str(BTC_1M), "--out", str(out)) == 0
    assert f"4319 bars x {len(FEATURE_SPEC.names)} features (spec v3)" in capsys.readouterr().out
    header, rows = read_csv_table(out)
    assert header == COLUMNS
    # Exactly equal, not close: floats are written as their round-trip text.
    assert rows == expected_rows(BTC_2025)
    assert all(value is not None for value in rows[-1][1].values())
    assert [name for name, value in rows[0][1].items() if value is not None] == ["taker_buy_ratio", "trade_count", "hour_of_day", "day_of_week"]
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


def test_parquet_table_matches_the_csv_one_and_records_the_spec(tmp_path: Path) -> None:
    """The FILUSDT futures slice, named on the command line with --symbol and --interval as well."""
    csv_out, parquet_out = tmp_path / "fil.csv", tmp_path / "fil.parquet"
    assert features("--data", str(FIL_1M), "--out", str(csv_out)) == 0
    assert features("--data", str(FIL_1M), "--out", str(parquet_out), "--symbol", "FILUSDT", "--interval", "1m") == 0
    table = pyarrow.parquet.read_table(parquet_out)
    assert table.column_names == COLUMNS
    assert str(table.schema.field("open_time_ms").type) == "int64"
    assert {str(table.schema.field(name).type) for name in FEATURE_SPEC.names} == {"double"}
    metadata = table.schema.metadata
    assert metadata[b"feature_spec_version"] == b"3" and metadata[b"feature_spec_fingerprint"] == FEATURE_SPEC.fingerprint.encode()
    columns = table.to_pydict()
    parquet_rows = [
        (open_time, {name: columns[name][index] for name in FEATURE_SPEC.names})
        for index, open_time in enumerate(columns["open_time_ms"])
    ]
    expected = expected_rows(FIL_1M.name)
    assert len(parquet_rows) == 8640
    assert parquet_rows == expected == read_csv_table(csv_out)[1]
    assert sum(columns["macd"][index] is None for index in range(len(expected))) == 25  # null until ema_26 exists


def test_a_parquet_klines_file_gives_the_same_table_as_its_csv(tmp_path: Path) -> None:
    """The real BTCUSDT file converted to Parquet (its cells kept as text) is read by the same
    loader as the backtest's and yields the same table."""
    source = tmp_path / "spot_BTCUSDT_1m_2025-09-22_2025-09-25.parquet"
    pd.read_csv(BTC_1M, dtype=str).astype({"open_time_ms": "int64", "close_time_ms": "int64"}).to_parquet(source)
    from_csv, from_parquet = tmp_path / "a.csv", tmp_path / "b.csv"
    assert features("--data", str(BTC_1M), "--out", str(from_csv)) == 0
    assert features("--data", str(source), "--out", str(from_parquet)) == 0
    assert from_parquet.read_bytes() == from_csv.read_bytes()


def test_a_file_without_taker_and_trade_count_columns_leaves_those_cells_empty(tmp_path: Path) -> None:
    out = tmp_path / "ohlcv.csv"
    assert features("--data", str(BTC_OHLCV_ONLY), "--out", str(out)) == 0
    _, rows = read_csv_table(out)
    assert len(rows) == 1440
    assert all(values["taker_buy_ratio"] is None and values["trade_count"] is None for _, values in rows)
    assert all(value is not None for name, value in rows[-1][1].items() if name not in ("taker_buy_ratio", "trade_count"))
    assert rows == expected_rows(OHLCV_ONLY)


def refused(capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    status = features(*arguments)
    error = capsys.readouterr().err.strip()
    assert status == 2, error
    assert error.startswith("tradebot features: error: ") and "\n" not in error, error
    return error


def test_bad_input_is_refused_in_one_line_and_leaves_the_output_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "table.csv"
    out.write_text("an earlier table\n")
    missing = tmp_path / "spot_BTCUSDT_1m_missing.csv"
    assert "no such file" in refused(capsys, "--data", str(missing), "--out", str(out))
    garbage = tmp_path / "spot_BTCUSDT_1m_garbage.csv"
    garbage.write_bytes(b"not,a,kline\n\x00\x01\x02\n")  # CONSTRUCTED: not market data
    assert "unknown CSV header" in refused(capsys, "--data", str(garbage), "--out", str(out))
    # A real file cut in the middle of a row: its last line is not a bar.
    lines = BTC_1M.read_text().splitlines()
    truncated = tmp_path / "spot_BTCUSDT_1m_truncated.csv"
    truncated.write_text("\n".join(lines[:50]) + "\n" + lines[50][:20] + "\n")
    assert str(truncated) in refused(capsys, "--data", str(truncated), "--out", str(out))
    assert "holds no klines" in refused(capsys, "--data", str(BTC_TRADES), "--out", str(out))
    bad_parquet = tmp_path / "spot_BTCUSDT_1m_bad.parquet"
    bad_parquet.write_bytes(b"PAR1 but not really")  # CONSTRUCTED: a corrupt Parquet file
    assert "not a readable Parquet file" in refused(capsys, "--data", str(bad_parquet), "--out", str(out))
    # CONSTRUCTED from real rows: a bar claiming more taker volume than volume; the engine refuses it.
    header, first, second = lines[0], lines[1].split(","), lines[2]
    first[9] = str(float(first[5]) * 2)  # taker_buy_base = twice the volume
    impossible = tmp_path / "spot_BTCUSDT_1m_impossible.csv"
    impossible.write_text("\n".join([header, ",".join(first), second]) + "\n")
    message = refused(capsys, "--data", str(impossible), "--out", str(out))
    assert "bar opening at 1758503700000 ms" in message and "between 0 and the volume" in message
    assert out.read_text() == "an earlier table\n"
    assert not [path.name for path in tmp_path.iterdir() if path.name.endswith(".tmp")]


def test_a_write_that_fails_half_way_leaves_neither_a_partial_table_nor_a_temporary_file(tmp_path: Path) -> None:
    out = tmp_path / "table.csv"
    out.write_text("an earlier table\n")

    def half_then_fail(path: Path) -> None:
        path.write_text("open_time_ms,ret_1\n1,")
        raise OSError(28, "No space left on device")

    with pytest.raises(FeatureCommandError, match="cannot write there: No space left on device"):
        write_atomically(out, half_then_fail)
    assert out.read_text() == "an earlier table\n"
    assert [path.name for path in tmp_path.iterdir()] == ["table.csv"]


def test_bad_output_paths_are_refused_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "unknown format '.json'" in refused(capsys, "--data", str(BTC_1M), "--out", str(tmp_path / "table.json"))
    assert "(no extension)" in refused(capsys, "--data", str(BTC_1M), "--out", str(tmp_path / "table"))
    assert "does not exist" in refused(capsys, "--data", str(BTC_1M), "--out", str(tmp_path / "absent" / "table.csv"))
    directory = tmp_path / "table.parquet"
    directory.mkdir()
    assert "is a directory" in refused(capsys, "--data", str(BTC_1M), "--out", str(directory))
    assert "expected an upper-case symbol" in refused(capsys, "--data", str(BTC_1M), "--out", str(tmp_path / "t.csv"), "--symbol", "btc")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["table.parquet"]
