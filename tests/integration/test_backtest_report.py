"""The backtest's output files: content, an offline HTML report, and the all-or-nothing policy.

Runs on REAL BTCUSDT/ETHUSDT 1m closes with CONSTRUCTED fills (tests/backtest_support.py).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from backtest_support import BTC_1M, fill_at_open, filled_order, realistic_run

from bot.backtest import charts, report
from bot.backtest.report import OUTPUT_NAMES, BacktestOutputError, write_outputs
from bot.backtest.results import equity_curve, round_trips, summarize
from bot.domain.trading import Side


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


def test_every_file_has_the_promised_columns(tmp_path: Path) -> None:
    run = realistic_run()
    paths = write_outputs(run, tmp_path / "out")
    assert sorted(paths) == sorted(OUTPUT_NAMES) and all(path.is_file() for path in paths.values())
    trades = read_csv(paths["trades.csv"])
    assert trades[0] == ["symbol", "entry_time", "exit_time", "qty", "entry_price", "exit_price", "fees", "pnl"]
    trips = round_trips(run.fills)
    assert len(trades) == 1 + len(trips) == 7
    assert trades[1][:4] == ["BTCUSDT", "2025-09-22T01:45:00.000Z", "2025-09-22T07:55:00.000Z", "0.05"]
    assert Decimal(trades[1][7]) == trips[0].pnl
    orders = read_csv(paths["orders.csv"])
    assert orders[0] == list(report.ORDER_COLUMNS) and len(orders) == 1 + len(run.orders)
    first = dict(zip(orders[0], orders[1]))
    assert (first["status"], first["type"], first["price"], first["average_price"]) == ("FILLED", "MARKET", "", "114608.28")
    equity = read_csv(paths["equity.csv"])
    assert equity[0] == ["time", "equity", "cash", "position_value"]
    assert len(equity) == 1 + 4319 and equity[1] == ["2025-09-22T01:15:59.999Z", "10000", "10000", "0"]
    assert all(Decimal(row[1]) == Decimal(row[2]) + Decimal(row[3]) for row in equity[1:])


def test_summary_json_is_the_summary(tmp_path: Path) -> None:
    run = realistic_run()
    text = write_outputs(run, tmp_path / "out")["summary.json"].read_text(encoding="utf-8")
    summary = json.loads(text)
    expected = summarize(run, round_trips(run.fills), equity_curve(run))
    assert summary == json.loads(json.dumps(expected))
    required = {"final_equity", "total_return", "n_trades", "win_rate", "profit_factor", "max_drawdown", "sharpe", "sortino",
                "exposure", "fees_paid", "bars", "symbols", "parameters", "data_start", "data_end", "strategy", "starting_cash",
                "quote_asset", "settings", "n_orders", "orders_by_status", "warnings"}
    assert required <= set(summary)
    assert text == json.dumps(expected, indent=2, sort_keys=True) + "\n" and "NaN" not in text


def test_the_html_report_is_offline_escaped_and_has_its_charts(tmp_path: Path) -> None:
    run = dataclasses.replace(realistic_run(), strategy="<script>alert(1)</script>", warnings=("gap in a&b.csv: <7 missing>",))
    page = write_outputs(run, tmp_path / "out")["report.html"].read_text(encoding="utf-8")
    assert re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, flags=re.IGNORECASE) == []
    assert "http://" not in page and "https://" not in page and "@import" not in page and "url(" not in page
    images = re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', page)
    assert images == ["Equity curve", "Drawdown", "BTCUSDT price with trades", "ETHUSDT price with trades"]
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "gap in a&amp;b.csv: &lt;7 missing&gt;" in page
    assert "All 6 trades" in page and "112,568.32" in page  # the first trip's exit price, formatted


def test_the_trades_table_is_capped_with_a_note(tmp_path: Path) -> None:
    """1,003 constructed round trips on real BTC bars: the page shows 1,000 and says where the rest are."""
    fills = []
    for number in range(1003):
        fills.append(fill_at_open(BTC_1M, 2 * number, "BTCUSDT", Side.BUY, Decimal("0.001"), 2 * number))
        fills.append(fill_at_open(BTC_1M, 2 * number + 1, "BTCUSDT", Side.SELL, Decimal("0.001"), 2 * number + 1))
    run = dataclasses.replace(realistic_run(), fills=tuple(fills), orders=tuple(filled_order(f) for f in fills))
    paths = write_outputs(run, tmp_path / "out")
    page = paths["report.html"].read_text(encoding="utf-8")
    assert "The first 1,000 of 1,003 trades; 3 more are left out here. trades.csv has them all." in page
    assert page.count("<tr><td>BTCUSDT</td>") == 1000
    assert len(read_csv(paths["trades.csv"])) == 1 + 1003


def test_the_same_run_gives_byte_identical_files(tmp_path: Path) -> None:
    first, second = write_outputs(realistic_run(), tmp_path / "a"), write_outputs(realistic_run(), tmp_path / "b")
    for name in OUTPUT_NAMES:
        assert first[name].read_bytes() == second[name].read_bytes(), name


def test_a_failure_midway_leaves_the_previous_output_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    write_outputs(realistic_run(), out)
    before = {path.name: path.read_bytes() for path in out.iterdir()}

    def broken_chart(*arguments: object) -> str:
        raise RuntimeError("rendering failed")

    monkeypatch.setattr(charts, "drawdown_chart", broken_chart)
    changed = dataclasses.replace(realistic_run(), strategy="another")
    with pytest.raises(RuntimeError, match="rendering failed"):
        write_outputs(changed, out)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]  # no staging directory left behind


def test_a_failure_on_a_new_directory_leaves_no_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_render(*arguments: object) -> str:
        raise RuntimeError("rendering failed")

    monkeypatch.setattr(report, "render_html", broken_render)
    with pytest.raises(RuntimeError):
        write_outputs(realistic_run(), tmp_path / "new")
    assert list(tmp_path.iterdir()) == []


def test_a_previous_output_is_replaced_but_user_files_stay(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_outputs(realistic_run(), out)
    (out / "my notes.txt").write_text("keep me", encoding="utf-8")
    only_eth = dataclasses.replace(realistic_run(), symbols=("ETHUSDT",), strategy="eth only",
                                   fills=tuple(f for f in realistic_run().fills if f.symbol == "ETHUSDT"), closes={"ETHUSDT": realistic_run().closes["ETHUSDT"]})
    write_outputs(only_eth, out)
    assert (out / "my notes.txt").read_text(encoding="utf-8") == "keep me"
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["strategy"] == "eth only"
    assert {row[0] for row in read_csv(out / "trades.csv")[1:]} == {"ETHUSDT"}


def test_a_directory_of_other_files_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"not ours")
    (out / "summary.json").write_text('{"someone": "else"}', encoding="utf-8")
    with pytest.raises(BacktestOutputError, match="not a previous backtest's output .*holiday.jpg"):
        write_outputs(realistic_run(), out)
    assert (out / "summary.json").read_text(encoding="utf-8") == '{"someone": "else"}'
    assert sorted(path.name for path in tmp_path.iterdir()) == ["photos"]
    a_file = tmp_path / "file"
    a_file.write_text("x", encoding="utf-8")
    with pytest.raises(BacktestOutputError, match="not a directory"):
        write_outputs(realistic_run(), a_file)


def test_the_envelope_keeps_every_extreme() -> None:
    """175,680 points (the benchmark's bar count) cut to two per column, spikes kept."""
    values = np.sin(np.arange(175_680) / 5000.0)
    values[123_457] = 9.0
    values[7] = -9.0
    times, kept = charts.envelope(np.arange(175_680), values, columns=1000)
    assert len(kept) == 2000 and kept.max() == 9.0 and kept.min() == -9.0
    assert np.all(np.diff(times) >= 0) and 123_457 in times and 7 in times
