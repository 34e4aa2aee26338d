"""`tradebot backtest` as a user meets it: real files in, exit status, messages, files out.

Bad input is refused with one line on stderr and exit status 2 before anything is written, so a
failed run never leaves a summary.json that looks complete. The broken files are made from real
rows (labelled where a test breaks them on purpose).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main

REPO = Path(__file__).resolve().parents[2]
BTC_1M = REPO / "bot/sim/recordings/spot_BTCUSDT_1m_2025-09-22_2025-09-25.csv"
ETH_1M = REPO / "bot/sim/recordings/spot_ETHUSDT_1m_2025-09-22_2025-09-25.csv"
BTC_1H_WITH_OUTAGE = REPO / "tests/data/spot_BTCUSDT_1h_2017-08-17_2017-09-10.csv"
BTC_OHLCV_ONLY = REPO / "tests/data/spot_BTCUSDT_1m_2024-03-01_ohlcv-only.csv"


def backtest(*arguments: str) -> int:
    return main(["backtest", *arguments])


def refused(capsys: pytest.CaptureFixture[str], out: Path, *arguments: str) -> str:
    """Runs a backtest that must be refused; returns its one-line message."""
    status = backtest(*arguments, "--out", str(out))
    error = capsys.readouterr().err.strip()
    assert status == 2, error
    assert error.startswith("tradebot backtest: error: ") and "\n" not in error, error
    assert not (out / "summary.json").exists()
    return error


def real_rows(path: Path) -> tuple[str, list[str]]:
    header, *rows = path.read_text().splitlines()
    return header, rows


def write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_a_run_writes_every_output_and_says_what_happened(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert backtest("--strategy", "sma_cross", "--param", "fast_period=5", "--param", "slow_period=20", "--data", str(BTC_1M), "--out", str(out)) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(path.name for path in out.iterdir()) == ["equity.csv", "orders.csv", "report.html", "summary.json", "trades.csv"]
    assert summary["bars"] == 4319 and summary["symbols"] == ["BTCUSDT"]
    assert summary["parameters"] == {"fast_period": 5, "slow_period": 20, "interval": "1m"}
    assert summary["settings"]["fill"] == "next-open" and summary["settings"]["exchange_filters"] is True
    assert summary["n_trades"] > 10
    assert f"{summary['n_trades']} trades" in printed and str(out) in printed
    trades = (out / "trades.csv").read_text().splitlines()
    assert trades[0] == "symbol,entry_time,exit_time,qty,entry_price,exit_price,fees,pnl"
    assert len(trades) == summary["n_trades"] + 1


def test_from_and_to_cut_the_data_to_whole_bars(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "window"
    status = backtest(
        "--strategy", "sma_cross", "--param", "fast_period=5", "--param", "slow_period=20", "--data", str(BTC_1M),
        "--from", "2025-09-23", "--to", "2025-09-23T06:00Z", "--out", str(out),
    )
    assert status == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["bars"] == 360  # six hours of 1m bars
    assert summary["data_start"] == "2025-09-23T00:00:00.000Z" and summary["data_end"] == "2025-09-23T05:59:59.999Z"


def test_two_symbols_share_one_account(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pair"
    status = backtest("--strategy", "sma_cross", "--param", "fast_period=5", "--param", "slow_period=20",
                      "--data", str(BTC_1M), "--data", str(ETH_1M), "--out", str(out))
    assert status == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["symbols"] == ["BTCUSDT", "ETHUSDT"]
    traded = {line.split(",")[0] for line in (out / "trades.csv").read_text().splitlines()[1:]}
    assert traded == {"BTCUSDT", "ETHUSDT"}


def test_a_gap_in_the_data_is_a_warning_naming_it_and_the_run_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "outage"
    status = backtest("--strategy", "sma_cross", "--data", str(BTC_1H_WITH_OUTAGE), "--out", str(out))
    error = capsys.readouterr().err
    assert status == 0, error
    # Binance's real outage of 2017-09-06: no 1h bars from 16:00 to 23:00.
    warning = "gap in BTCUSDT 1h bars: none from 2017-09-06T16:00:00Z to 2017-09-06T23:00:00Z (7 bars missing)"
    assert f"tradebot backtest: warning: {warning}" in error
    summary = json.loads((out / "summary.json").read_text())
    assert any(warning in text for text in summary["warnings"])
    assert summary["bars"] == 566


def test_a_missing_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = refused(capsys, tmp_path / "out", "--strategy", "sma_cross", "--data", str(tmp_path / "nope_BTCUSDT_1m.csv"))
    assert "nope_BTCUSDT_1m.csv: no such file" in message
    assert not (tmp_path / "out").exists()


def test_a_file_with_wrong_columns_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    header, rows = real_rows(BTC_1M)
    # Broken on purpose: a real file with its header renamed and a column dropped.
    wrong = write(tmp_path / "spot_BTCUSDT_1m_wrong.csv", "time,price,size", [",".join(row.split(",")[:3]) for row in rows[:50]])
    assert "unknown CSV header 'time,price,size'" in refused(capsys, tmp_path / "out", "--strategy", "sma_cross", "--data", str(wrong))
    short = write(tmp_path / "spot_BTCUSDT_1m_short.csv", header, [",".join(row.split(",")[:9]) for row in rows[:50]])
    message = refused(capsys, tmp_path / "out", "--strategy", "sma_cross", "--data", str(short))
    assert "spot_BTCUSDT_1m_short.csv:2: bad klines row: expected 11 or 12 columns, found 9" in message


def test_unsorted_or_duplicated_bars_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    header, rows = real_rows(BTC_1M)
    rows = rows[:100]
    # Broken on purpose: two real rows swapped, then one real row repeated.
    swapped = write(tmp_path / "spot_BTCUSDT_1m_swapped.csv", header, rows[:10] + [rows[11], rows[10]] + rows[12:])
    message = refused(capsys, tmp_path / "out", "--strategy", "sma_cross", "--data", str(swapped))
    assert "spot_BTCUSDT_1m_swapped.csv:13: time" in message and "must be in time order" in message
    repeated = write(tmp_path / "spot_BTCUSDT_1m_repeated.csv", header, rows[:20] + [rows[19]] + rows[20:])
    message = refused(capsys, tmp_path / "out", "--strategy", "sma_cross", "--data", str(repeated))
    assert f"spot_BTCUSDT_1m_repeated.csv:22: duplicated open time {rows[19].split(',')[0]}" in message


def test_an_unknown_strategy_or_parameter_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert "unknown strategy 'sma_crosss'" in refused(capsys, out, "--strategy", "sma_crosss", "--data", str(BTC_1M))
    message = refused(capsys, out, "--strategy", "sma_cross", "--param", "fast_period=50", "--param", "slow_period=20", "--data", str(BTC_1M))
    assert "parameter fast_period: must be less than slow_period (got 50 >= 20)" in message
    assert "fastest" in refused(capsys, out, "--strategy", "sma_cross", "--param", "fastest=3", "--data", str(BTC_1M))
    assert "expected KEY=VALUE" in refused(capsys, out, "--strategy", "sma_cross", "--param", "fast_period", "--data", str(BTC_1M))


def test_bad_options_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert "--from yesterday: not an ISO-8601 date" in refused(capsys, out, "--strategy", "sma_cross", "--data", str(BTC_1M), "--from", "yesterday")
    assert "--cash -5: must be a positive number" in refused(capsys, out, "--strategy", "sma_cross", "--data", str(BTC_1M), "--cash", "-5")
    message = refused(capsys, out, "--strategy", "sma_cross", "--data", str(BTC_1M), "--from", "2030-01-01")
    assert "no market data between 2030-01-01T00:00:00Z and -" in message


def test_a_strategy_that_needs_taker_volumes_refuses_ohlcv_only_klines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = refused(capsys, tmp_path / "out", "--strategy", "taker_flow", "--data", str(BTC_OHLCV_ONLY))
    assert "strategy taker_flow needs the klines' taker_buy_base_volume column, which spot_BTCUSDT_1m_2024-03-01_ohlcv-only.csv leaves empty" in message
    # The same file serves a strategy that needs only prices.
    assert backtest("--strategy", "sma_cross", "--data", str(BTC_OHLCV_ONLY), "--out", str(tmp_path / "prices")) == 0


def test_a_failed_run_leaves_the_previous_results_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results"
    assert backtest("--strategy", "sma_cross", "--param", "fast_period=5", "--param", "slow_period=20", "--data", str(BTC_1M), "--out", str(out)) == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    capsys.readouterr()
    assert backtest("--strategy", "sma_cross", "--data", str(tmp_path / "gone_BTCUSDT_1m.csv"), "--out", str(out)) == 2
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
