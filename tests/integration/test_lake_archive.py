"""The archive: real recorded events through the real RedisStreamWriter into a real Redis, moved
into the lake's raw layer, read back from Parquet and compared with the recordings' own text."""

from __future__ import annotations

import asyncio
import csv
import gzip
import json
from decimal import Decimal
from pathlib import Path

import msgspec

from bot.bus.redis_keys import RedisKeys
from bot.bus.redis_writer import RedisStreamWriter
from bot.clock import ManualClock
from bot.domain.events import MILLISECONDS, AggTrade
from bot.lake import AGG_TRADES, KLINES, TRADES, LakeLayout, RawCoverage, RawWriter
from bot.lake.archive import StreamArchiver
from bot.lake.layout import utc_date
from market_files import BTC_2025, RECORDINGS, TRADES_RECORDING, recorded_klines, recorded_trades

KEYS = RedisKeys("lake")
XRPETH = RECORDINGS / "spot_XRPETH_aggTrades_2019-10-11_2019-10-13.csv.gz"
CLOCK = ManualClock(1_800_000_000_000_000_000)


def xrpeth_rows() -> list[dict[str, str]]:
    with gzip.open(XRPETH, "rt", newline="") as handle:
        return list(csv.DictReader(handle))


def xrpeth_agg_trades() -> list[AggTrade]:
    return [
        AggTrade(symbol="XRPETH", ts_event=int(row["transact_time"]) * MILLISECONDS, ts_init=int(row["transact_time"]) * MILLISECONDS + 5,
                 agg_trade_id=int(row["agg_trade_id"]), price=Decimal(row["price"]), quantity=Decimal(row["quantity"]),
                 first_trade_id=int(row["first_trade_id"]), last_trade_id=int(row["last_trade_id"]),
                 buyer_is_maker=row["is_buyer_maker"] == "True", ts_trade=int(row["transact_time"]) * MILLISECONDS)
        for row in xrpeth_rows()
    ]


def recorded_trade_frames() -> list[dict]:
    """The trade frames of the websocket recording, parsed with json (strings stay strings)."""
    frames = []
    with gzip.open(RECORDINGS / TRADES_RECORDING, "rt") as handle:
        for line in handle:
            message = json.loads(line)["msg"]
            if message.get("stream", "").endswith("@trade"):
                frames.append(message["data"])
    return frames


async def write_events(client, events, max_lengths: dict[str, int] | None = None) -> None:
    writer = RedisStreamWriter(client, KEYS, max_lengths or {"trade": 10**7, "aggTrade": 10**7, "kline": 10**7}, batch_size=2000)
    for channel, symbol in (("trade", "BTCUSDT"), ("aggTrade", "XRPETH"), ("kline_1m", "BTCUSDT")):
        await writer.load_cursor(channel, symbol)
    task = asyncio.create_task(writer.run())
    for event in events:
        writer.append(event, event.ts_init)
    await asyncio.wait_for(writer.drained(), 30)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def archiver(client, root: Path, batch_size: int = 100_000) -> StreamArchiver:
    return StreamArchiver(client, KEYS, RawWriter(LakeLayout(root)), CLOCK, batch_size=batch_size)


def lake_rows(root: Path, kind: str, symbol: str, dates: list[str], interval: str | None = None) -> list[dict]:
    coverage = RawCoverage(LakeLayout(root))
    return [row for date in dates for row in coverage.read(kind, symbol, date, interval).to_pylist()]


def all_files(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


async def test_klines_trades_and_agg_trades_round_trip_exactly_as_text(redis_client, tmp_path):
    klines = recorded_klines(BTC_2025)[:2000]  # 2025-09-22 01:15 .. 2025-09-23 10:34 UTC: two dates
    trades = recorded_trades()  # 19,904 trades across midnight 2024-08-08/09
    aggs = xrpeth_agg_trades()
    await write_events(redis_client, [*klines, *trades, *aggs])

    report = await archiver(redis_client, tmp_path).archive_once()

    assert report.streams == 3 and report.entries_lost == 0
    assert report.entries_archived == report.rows_written == 2000 + 19_904 + len(aggs)
    with open(RECORDINGS / BTC_2025, newline="") as handle:
        source_klines = list(csv.DictReader(handle))[:2000]
    stored = lake_rows(tmp_path, KLINES, "BTCUSDT", ["2025-09-22", "2025-09-23"], "1m")
    assert [(row["open_time_ms"], row["close_time_ms"], row["open"], row["high"], row["low"], row["close"], row["volume"],
             row["quote_volume"], row["trade_count"], row["taker_buy_base_volume"], row["taker_buy_quote_volume"]) for row in stored] == [
        (int(row["open_time_ms"]), int(row["close_time_ms"]), row["open"], row["high"], row["low"], row["close"], row["volume"],
         row["quote_volume"], int(row["trades"]), row["taker_buy_base"], row["taker_buy_quote"]) for row in source_klines]
    assert {row["source"] for row in stored} == {"archive"}
    assert [row["ingested_at_ns"] for row in stored] == [kline.ts_init for kline in klines]

    frames = recorded_trade_frames()
    stored_trades = lake_rows(tmp_path, TRADES, "BTCUSDT", ["2024-08-08", "2024-08-09"])
    assert [(row["trade_id"], row["price"], row["quantity"], row["time_ms"], row["is_buyer_maker"]) for row in stored_trades] == [
        (frame["t"], frame["p"], frame["q"], frame["T"], frame["m"]) for frame in frames]
    assert {utc_date(row["time_ms"]) for row in stored_trades} == {"2024-08-08", "2024-08-09"}

    source_aggs = xrpeth_rows()
    dates = sorted({utc_date(int(row["transact_time"])) for row in source_aggs})
    stored_aggs = lake_rows(tmp_path, AGG_TRADES, "XRPETH", dates)
    assert [(str(row["agg_trade_id"]), row["price"], row["quantity"], str(row["first_trade_id"]), str(row["last_trade_id"]),
             str(row["time_ms"]), str(row["is_buyer_maker"])) for row in stored_aggs] == [
        (row["agg_trade_id"], row["price"], row["quantity"], row["first_trade_id"], row["last_trade_id"],
         row["transact_time"], row["is_buyer_maker"]) for row in source_aggs]

    # Hive partitions and names from the rows, the cursor at each stream's end, nothing left to do.
    names = sorted(all_files(tmp_path))
    assert "raw/klines/interval=1m/symbol=BTCUSDT/date=2025-09-22/archive-1758503700000-1758585540000.parquet" in names
    assert f"raw/trades/symbol=BTCUSDT/date=2024-08-08/archive-{frames[0]['t']}-" in "".join(names)
    cursors = await redis_client.hgetall(KEYS.archive_cursors())
    last_trade = (await redis_client.xrevrange(KEYS.stream("trade", "BTCUSDT"), count=1))[0][0]
    assert cursors[KEYS.stream("trade", "BTCUSDT").encode()] == last_trade
    again = await archiver(redis_client, tmp_path).archive_once()
    assert again.entries_archived == 0 and again.files_written == []
    status = await redis_client.hgetall(KEYS.archive_status())
    assert int(status[b"rows_written"]) == report.rows_written and int(status[b"files_written"]) == len(names)


async def test_a_crash_before_the_cursor_moved_rearchives_without_a_duplicate_row_or_file(redis_client, tmp_path):
    trades = recorded_trades()
    await write_events(redis_client, trades[:5000])
    first = await archiver(redis_client, tmp_path, batch_size=2000).archive_once()
    assert first.entries_archived == 5000 and len(first.files_written) == 3  # batches of 2000, 2000, 1000
    files_before = all_files(tmp_path)
    # The crash: the last batch's file is durable but the cursor never moved past it; and a
    # half-written temporary file is left behind.
    entries = await redis_client.xrange(KEYS.stream("trade", "BTCUSDT"), count=4000)
    await redis_client.hset(KEYS.archive_cursors(), KEYS.stream("trade", "BTCUSDT"), entries[-1][0])
    partition = Path(first.files_written[-1]).parent
    (partition / ".archive-1-2.parquet.123.tmp").write_bytes(b"PAR1 half")
    # Meanwhile ingest went on: the re-read batch now holds more entries than before.
    await write_events(redis_client, trades[5000:])

    restarted = await archiver(redis_client, tmp_path, batch_size=2000).archive_once()

    assert restarted.entries_archived == len(trades) - 4000
    assert restarted.rows_written == len(trades) - 5000  # the 1000 already stored are left out
    for name, content in files_before.items():
        assert all_files(tmp_path)[name] == content  # nothing rewritten
    stored = lake_rows(tmp_path, TRADES, "BTCUSDT", ["2024-08-08", "2024-08-09"])
    assert [row["trade_id"] for row in stored] == [trade.trade_id for trade in trades]
    assert [row["price"] for row in stored] == [str(trade.price) for trade in trades]


async def test_entries_trimmed_before_they_were_archived_are_audited_and_counted(redis_client, tmp_path):
    trades = recorded_trades()
    lengths = {"trade": 1000}
    await write_events(redis_client, trades[:600], lengths)
    first = await archiver(redis_client, tmp_path).archive_once()
    assert first.entries_archived == 600 and first.entries_lost == 0
    # The archive is not run while 5,000 more trades arrive: the stream keeps only ~1,000.
    await write_events(redis_client, trades[600:5600], lengths)
    oldest = (await redis_client.xrange(KEYS.stream("trade", "BTCUSDT"), count=1))[0][0]
    oldest_id = int(oldest.split(b"-")[1])

    report = await archiver(redis_client, tmp_path).archive_once()

    lost_ids = list(range(trades[600].trade_id, oldest_id))
    assert report.entries_lost == len(lost_ids) > 3000
    (audit_id, fields), = await redis_client.xrange(KEYS.archive_audit())
    audit = msgspec.json.decode(fields[b"event"])
    assert (audit["symbol"], audit["channel"], audit["first"], audit["last"], audit["missing"]) == (
        "BTCUSDT", "trade", lost_ids[0], lost_ids[-1], len(lost_ids))
    status = await redis_client.hgetall(KEYS.archive_status())
    assert int(status[b"entries_lost"]) == len(lost_ids) and int(status[b"audits"]) == 1
    # What the lake holds plus what the audit names is every trade, each once.
    stored = [row["trade_id"] for row in lake_rows(tmp_path, TRADES, "BTCUSDT", ["2024-08-08", "2024-08-09"])]
    assert sorted(stored + lost_ids) == [trade.trade_id for trade in trades[:5600]]
    # A pass with nothing new audits nothing again.
    assert (await archiver(redis_client, tmp_path).archive_once()).entries_lost == 0
    assert await redis_client.xlen(KEYS.archive_audit()) == 1


async def test_a_file_uri_root_works_like_a_path(redis_client, tmp_path):
    klines = recorded_klines(BTC_2025)[:100]
    await write_events(redis_client, klines)
    report = await StreamArchiver(redis_client, KEYS, RawWriter(LakeLayout(tmp_path.as_uri())), CLOCK).archive_once()
    assert report.rows_written == 100
    assert [row["close"] for row in lake_rows(tmp_path, KLINES, "BTCUSDT", ["2025-09-22"], "1m")] == [str(k.close) for k in klines]


async def test_the_daemon_archives_a_replay_of_real_klines_when_enabled(redis_url, tmp_path):
    from bot.app import Daemon
    from bot.config import Settings

    settings = Settings.model_validate({
        "data_directory": str(tmp_path), "redis": {"url": redis_url, "namespace": "lakedaemon"},
        "ingest": {"symbols": ["BTCUSDT"], "streams": ["kline_1m"]}, "engine": {"enabled": False},
        "scanner": {"enabled": False}, "metrics": {"enabled": False},
        "lake": {"archive_enabled": True, "archive_interval_seconds": 0.2, "archive_batch_size": 500},
        "replay_exchange": {"recordings": [str(RECORDINGS / BTC_2025)], "speed": None},
    })
    await asyncio.wait_for(Daemon(settings).run(asyncio.Event()), 120)  # ends with the recording

    lake = tmp_path / "lake"
    with open(RECORDINGS / BTC_2025, newline="") as handle:
        closes = [row["close"] for row in csv.DictReader(handle)]
    dates = ["2025-09-22", "2025-09-23", "2025-09-24", "2025-09-25"]
    stored = lake_rows(lake, KLINES, "BTCUSDT", dates, "1m")
    assert [row["close"] for row in stored] == closes  # every bar, once, as text
    ranges = sorted((int(path.stem.split("-")[1]), int(path.stem.split("-")[2])) for path in lake.rglob("*.parquet"))
    assert all(previous[1] < following[0] for previous, following in zip(ranges, ranges[1:]))  # no overlap
