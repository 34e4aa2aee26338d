"""`tradebot backfill` against the replay exchange's REST API (real 1m klines of BTCUSDT and
ETHUSDT, 2025-09-22..25) and from data.binance.vision-style ZIP/CSV files made in the test from
the same real rows."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from bot.clock import WallClock
from bot.ingest.rest import RestGateway
from bot.lake import KLINES, LakeLayout, RawCoverage, RawWriter
from bot.lake.backfill import BackfillRequest, KlineBackfill
from bot.lake.layout import utc_date
from bot.sim import ReplayExchange, ReplaySettings
from market_files import BTC_2025, ETH_2025, RECORDINGS

ROOT = Path(__file__).parents[2]
DAYS = ["2025-09-22", "2025-09-23", "2025-09-24", "2025-09-25"]


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "tradebot.yaml"
    config.write_text(
        f"data_directory: {tmp_path / 'var'}\n"
        "ingest: {symbols: [BTCUSDT]}\n"
        "metrics: {enabled: false}\n"
        "logging: {format: json, level: WARNING}\n"
        f"replay_exchange: {{recordings: [{RECORDINGS / BTC_2025}, {RECORDINGS / ETH_2025}], speed: null}}\n"
    )
    return config


def tradebot(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=120)


def lake_files(lake: Path) -> dict[str, bytes]:
    return {str(path.relative_to(lake)): path.read_bytes() for path in sorted(lake.rglob("*")) if path.is_file()} if lake.exists() else {}


def source_rows(file_name: str) -> list[dict[str, str]]:
    with open(RECORDINGS / file_name, newline="") as handle:
        return list(csv.DictReader(handle))


def values(row: dict) -> tuple:
    return (row["open_time_ms"], row["close_time_ms"], row["open"], row["high"], row["low"], row["close"], row["volume"],
            row["quote_volume"], row["trade_count"], row["taker_buy_base_volume"], row["taker_buy_quote_volume"])


def expected_values(file_name: str) -> list[tuple]:
    return [(int(row["open_time_ms"]), int(row["close_time_ms"]), row["open"], row["high"], row["low"], row["close"],
             row["volume"], row["quote_volume"], int(row["trades"]), row["taker_buy_base"], row["taker_buy_quote"])
            for row in source_rows(file_name)]


def stored_values(lake: Path, symbol: str) -> list[tuple]:
    coverage = RawCoverage(LakeLayout(lake))
    return [values(row) for day in DAYS for row in coverage.read(KLINES, symbol, day, "1m").to_pylist()]


def test_rest_backfill_stores_the_exchange_text_and_a_second_run_changes_nothing(tmp_path):
    config = write_config(tmp_path)
    lake = tmp_path / "var" / "lake"
    arguments = ("backfill", "--symbols", "BTCUSDT,ETHUSDT", "--from", "2025-09-22", "--to", "2025-09-25", "--config", str(config))

    first = tradebot(*arguments)

    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == "backfill: 8638 bars fetched, 8 files written, 0 days skipped, 4 days still incomplete"
    assert "BTCUSDT 2025-09-23: 1440 bars missing, 1440 stored" in first.stderr
    assert stored_values(lake, "BTCUSDT") == expected_values(BTC_2025)
    assert stored_values(lake, "ETHUSDT") == expected_values(ETH_2025)
    files = lake_files(lake)
    assert sorted(files) == sorted(
        f"raw/klines/interval=1m/symbol={symbol}/date={day}/{name}" for symbol in ("BTCUSDT", "ETHUSDT") for day, name in zip(DAYS, (
            "rest-1758503700000-1758585540000.parquet", "rest-1758585600000-1758671940000.parquet",
            "rest-1758672000000-1758758340000.parquet", "rest-1758758400000-1758762780000.parquet")))
    assert pq.read_schema(lake / next(iter(files))).field("open").type == "string"

    second = tradebot(*arguments)

    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[-1] == "backfill: 0 bars fetched, 0 files written, 4 days skipped, 4 days still incomplete"
    assert lake_files(lake) == files  # the same files, byte for byte


async def test_an_interrupted_backfill_resumes_with_the_missing_days_only(tmp_path):
    settings = ReplaySettings(recordings=(RECORDINGS / BTC_2025,), speed=None, ping_interval_s=None)
    request = BackfillRequest(("BTCUSDT",), date(2025, 9, 22), date(2025, 9, 25))
    layout = LakeLayout(tmp_path)
    async with ReplayExchange(settings) as exchange:
        exchange.advance_unattended()
        await exchange.wait_finished()
        async with RestGateway(exchange.rest_base_url, WallClock()) as gateway:
            lines: list[str] = []

            def stop_after_two_days(line: str) -> None:
                lines.append(line)
                if len(lines) == 2:
                    raise KeyboardInterrupt  # the operator's ^C after the second day was stored

            with pytest.raises(KeyboardInterrupt):
                await KlineBackfill(RawWriter(layout), RawCoverage(layout), WallClock(), stop_after_two_days).from_rest(gateway, request)
            assert [path.name for path in sorted(tmp_path.rglob("*.parquet"))] == [
                "rest-1758503700000-1758585540000.parquet", "rest-1758585600000-1758671940000.parquet"]
            assert not list(tmp_path.rglob(".*"))  # no temporary file left

            progress: list[str] = []
            summary = await KlineBackfill(RawWriter(layout), RawCoverage(layout), WallClock(), progress.append).from_rest(gateway, request)

    assert summary.days_skipped == 1  # 2025-09-23 is whole; 09-22 starts at 01:15 in the data
    assert summary.bars_fetched == 1440 + 74
    assert [Path(name).name for name in summary.files_written] == [
        "rest-1758672000000-1758758340000.parquet", "rest-1758758400000-1758762780000.parquet"]
    assert stored_values(tmp_path, "BTCUSDT") == expected_values(BTC_2025)


def vision_csv(rows: list[dict[str, str]], microseconds: bool) -> str:
    """A data.binance.vision kline CSV (no header, 12 columns) of real rows; spot files since 2025
    give times in microseconds."""
    scale = 1000 if microseconds else 1
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([int(row["open_time_ms"]) * scale, row["open"], row["high"], row["low"], row["close"], row["volume"],
                         int(row["close_time_ms"]) * scale + (999 if microseconds else 0), row["quote_volume"], row["trades"],
                         row["taker_buy_base"], row["taker_buy_quote"], "0"])
    return out.getvalue()


def make_vision_directory(directory: Path) -> Path:
    """BTCUSDT as daily ZIPs (microseconds) plus one bare daily CSV (milliseconds); ETHUSDT as
    one monthly ZIP."""
    directory.mkdir()
    btc = source_rows(BTC_2025)
    for day in DAYS:
        day_rows = [row for row in btc if _utc_day(row) == day]
        if day == "2025-09-25":
            (directory / f"BTCUSDT-1m-{day}.csv").write_text(vision_csv(day_rows, microseconds=False))
            continue
        with zipfile.ZipFile(directory / f"BTCUSDT-1m-{day}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"BTCUSDT-1m-{day}.csv", vision_csv(day_rows, microseconds=True))
    with zipfile.ZipFile(directory / "ETHUSDT-1m-2025-09.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ETHUSDT-1m-2025-09.csv", vision_csv(source_rows(ETH_2025), microseconds=True))
    (directory / "ETHUSDT-5m-2025-09.zip").write_bytes(b"another interval: never opened")
    return directory


def _utc_day(row: dict[str, str]) -> str:
    return utc_date(int(row["open_time_ms"]))


def test_files_backfill_reads_vision_zips_and_csvs_in_both_time_units_idempotently(tmp_path):
    config = write_config(tmp_path)
    files = make_vision_directory(tmp_path / "vision")
    lake = tmp_path / "var" / "lake"
    arguments = ("backfill", "--symbols", "BTCUSDT,ETHUSDT", "--from", "2025-09-22", "--to", "2025-09-25",
                 "--files", str(files), "--config", str(config))

    first = tradebot(*arguments)

    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == "backfill: 8638 bars fetched, 8 files written, 0 days skipped, 4 days still incomplete"
    assert stored_values(lake, "BTCUSDT") == expected_values(BTC_2025)
    assert stored_values(lake, "ETHUSDT") == expected_values(ETH_2025)
    stored = lake_files(lake)
    assert all(Path(name).name.startswith("file-") for name in stored)
    second = tradebot(*arguments)
    assert second.returncode == 0 and "0 bars fetched, 0 files written, 4 days skipped" in second.stdout
    assert lake_files(lake) == stored


@pytest.mark.parametrize("case", ["from_after_to", "unknown_symbol", "corrupt_zip", "bad_row"])
def test_bad_input_exits_2_with_a_clear_message_and_writes_nothing(tmp_path, case):
    config = write_config(tmp_path)
    lake = tmp_path / "var" / "lake"
    files = make_vision_directory(tmp_path / "vision")
    common = ("--config", str(config))
    if case == "from_after_to":
        result = tradebot("backfill", "--symbols", "BTCUSDT", "--from", "2025-09-25", "--to", "2025-09-22", *common)
        expected = "--from 2025-09-25 is after --to 2025-09-22"
    elif case == "unknown_symbol":
        result = tradebot("backfill", "--symbols", "BTCUSDT,NOSUCHCOIN", "--from", "2025-09-22", "--to", "2025-09-25", *common)
        expected = "unknown symbol 'NOSUCHCOIN': the exchange answered -1121"
    elif case == "corrupt_zip":
        zipped = files / "BTCUSDT-1m-2025-09-24.zip"
        zipped.write_bytes(zipped.read_bytes()[: len(zipped.read_bytes()) // 2])  # a truncated download
        result = tradebot("backfill", "--symbols", "BTCUSDT", "--from", "2025-09-22", "--to", "2025-09-25", "--files", str(files), *common)
        expected = f"{zipped}: unreadable ZIP"
    else:
        path = files / "BTCUSDT-1m-2025-09-25.csv"
        lines = path.read_text().splitlines()
        lines[6] = lines[6].replace(",", ",abc", 1)  # line 7: the open price is not a number
        path.write_text("\n".join(lines) + "\n")
        result = tradebot("backfill", "--symbols", "BTCUSDT", "--from", "2025-09-22", "--to", "2025-09-25", "--files", str(files), *common)
        expected = f"{path}: line 7: open 'abc"
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr.splitlines()[-1]
    assert lake_files(lake) == {}
