"""Loading recordings into the replay exchange's timeline: formats, exact bytes and clear errors.

Table fixtures are rows cut from the repo's real recordings, rewritten into the other layouts the
loader accepts; nothing here is invented market data.
"""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import pytest

from bot.sim import RECORDINGS_DIRECTORY, RecordingError, RecordingSpec
from bot.sim.timeline import load_timeline

BTC_STREAMS = RECORDINGS_DIRECTORY / "spot_BTCUSDT_depth100ms-bookTicker-trade_2024-08-08T2354_2024-08-09T0005.jsonl.gz"
BTC_KLINES = RECORDINGS_DIRECTORY / "spot_BTCUSDT_1m_2020-12-01_2020-12-02.csv"
NKN_STREAMS = RECORDINGS_DIRECTORY / "spot_combined_NKNUSDT-BLZETH-LRCBTC-RUNEEUR_2021-10-12.jsonl"
NKN_SNAPSHOTS = RECORDINGS_DIRECTORY / "spot_depth_snapshots_limit1000_2021-10-12.jsonl"
XRPETH_AGG_TRADES = RECORDINGS_DIRECTORY / "spot_XRPETH_aggTrades_2019-10-11_2019-10-13.csv.gz"


def btc_excerpt_lines(count: int = 400) -> list[bytes]:
    with gzip.open(BTC_STREAMS, "rb") as file:
        return [line.rstrip(b"\n") for line in itertools.islice(file, count)]


def write(path: Path, lines: list[str] | list[bytes]) -> Path:
    data = b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines) + b"\n"
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def test_hftbacktest_recording_keeps_every_frame_byte_exact() -> None:
    timeline = load_timeline([BTC_STREAMS])
    lines = gzip.decompress(BTC_STREAMS.read_bytes()).splitlines()
    assert len(timeline) == len(lines) == 99_574
    for line, frame, stream in zip(lines, timeline.frames, timeline.streams, strict=True):
        if stream is None:  # the REST snapshot's moment
            continue
        assert line == b'{"recv_time_ns":' + str(json.loads(line)["recv_time_ns"]).encode() + b',"msg":' + frame + b"}"
    trades = timeline.market.trades["BTCUSDT"]
    assert len(trades) == 19_904
    assert [trade.trade_id for trade in trades] == list(range(trades[0].trade_id, trades[0].trade_id + 19_904))
    assert len(timeline.market.depth_diffs["BTCUSDT"]) == 6_495
    [snapshot] = timeline.market.depth_snapshots["BTCUSDT"]
    assert (snapshot.last_update_id, snapshot.position, len(snapshot.bids)) == (50093239218, 7, 1000)
    assert timeline.times_ns == sorted(timeline.times_ns)


def test_raw_payload_is_a_slice_of_the_combined_frame() -> None:
    timeline = load_timeline([NKN_STREAMS])
    for frame, offset in zip(timeline.frames, timeline.data_offsets, strict=True):
        assert json.loads(frame)["data"] == json.loads(frame[offset:-1])


def test_cryptofeed_seconds_become_exact_nanoseconds_and_snapshots_join_by_symbol() -> None:
    timeline = load_timeline([NKN_STREAMS, NKN_SNAPSHOTS])
    assert timeline.times_ns[0] == 1633998512063356900  # recv_time_s 1633998512.0633569
    assert sorted(timeline.market.depth_snapshots) == ["BLZETH", "LRCBTC", "NKNUSDT", "RUNEEUR"]
    nkn = timeline.market.depth_snapshots["NKNUSDT"][0]
    assert nkn.last_update_id == 499869752 and nkn.bids[0] == ["0.35210000", "672.00000000"]
    # The snapshot sits on the timeline at its receive time, after the first NKN diff.
    assert timeline.streams[nkn.position] is None and nkn.position > 0


def test_klines_without_header_with_the_ignore_column_and_missing_taker_fields(tmp_path: Path) -> None:
    rows = BTC_KLINES.read_text().splitlines()[1:4]
    vision = write(tmp_path / "BTCUSDT-1m-2020-12-01.csv", [row + ",0" for row in rows])
    cells = rows[0].split(",")
    no_taker = write(tmp_path / "spot_BTCUSDT_1m_no-taker.csv.gz", [",".join(cells[:9] + ["", ""])])
    bars = load_timeline([vision]).market.klines[("BTCUSDT", "1m")]
    assert [bar.open for bar in bars] == [row.split(",")[1] for row in rows]
    timeline = load_timeline([no_taker])
    [bar] = timeline.market.klines[("BTCUSDT", "1m")]
    assert (bar.taker_buy_base, bar.taker_buy_quote, bar.quote_volume) == (None, None, cells[7])
    update = json.loads(timeline.frames[0])["data"]["k"]
    assert (update["V"], update["Q"], update["x"]) == (None, None, False)


def test_microsecond_timestamps_are_read_as_milliseconds(tmp_path: Path) -> None:
    cells = BTC_KLINES.read_text().splitlines()[1].split(",")
    cells[0], cells[6] = cells[0] + "000", cells[6] + "999"
    [bar] = load_timeline([write(tmp_path / "BTCUSDT-1m-2025-01-01.csv", [",".join(cells)])]).market.klines[
        ("BTCUSDT", "1m")
    ]
    assert (bar.open_time_ms, bar.close_time_ms) == (1606780800000, 1606780859999)


def test_symbol_and_interval_can_be_given_when_the_name_does_not_tell(tmp_path: Path) -> None:
    rows = BTC_KLINES.read_text().splitlines()[:3]
    path = write(tmp_path / "candles.csv", rows)
    with pytest.raises(RecordingError, match="cannot tell the symbol"):
        load_timeline([path])
    timeline = load_timeline([RecordingSpec(path, symbol="BTCUSDT", interval="1m")])
    assert timeline.stream_names() == {"btcusdt@kline_1m"}


def test_trades_csv_with_and_without_header(tmp_path: Path) -> None:
    frames = [json.loads(line)["msg"]["data"] for line in btc_excerpt_lines() if b'"btcusdt@trade"' in line]
    rows = [f"{t['t']},{t['p']},{t['q']},,{t['T']},{t['m']},{t['M']}" for t in frames]
    with_header = write(tmp_path / "spot_BTCUSDT_trades_a.csv", ["id,price,qty,quote_qty,time,is_buyer_maker,is_best_match", *rows])
    without_header = write(tmp_path / "BTCUSDT-trades-2024-08.csv", rows)
    for path in (with_header, without_header):
        timeline = load_timeline([path])
        events = [json.loads(frame)["data"] for frame in timeline.frames]
        assert [(e["t"], e["p"], e["q"], e["T"], e["m"], e["M"]) for e in events] == [
            (t["t"], t["p"], t["q"], t["T"], t["m"], t["M"]) for t in frames
        ]
        assert {e["e"] for e in events} == {"trade"}


def test_recorded_trade_frames_win_over_a_trades_table_covering_the_same_ids(tmp_path: Path) -> None:
    lines = btc_excerpt_lines()
    frames = [json.loads(line)["msg"]["data"] for line in lines if b'"btcusdt@trade"' in line]
    recording = write(tmp_path / "spot_BTCUSDT_excerpt.jsonl", lines)
    table = write(
        tmp_path / "spot_BTCUSDT_trades_excerpt.csv",
        [f"{t['t']},{t['p']},{t['q']},,{t['T']},{t['m']},{t['M']}" for t in frames],
    )
    timeline = load_timeline([recording, table])
    assert timeline.streams.count("btcusdt@trade") == len(frames)
    assert [trade.trade_id for trade in timeline.market.trades["BTCUSDT"]] == [t["t"] for t in frames]


def test_aggregate_trades_table_becomes_aggtrade_events() -> None:
    timeline = load_timeline([XRPETH_AGG_TRADES])
    first = json.loads(timeline.frames[0])
    assert first == {
        "stream": "xrpeth@aggTrade",
        "data": {"e": "aggTrade", "E": 1570752011620, "s": "XRPETH", "a": 13519807, "p": "0.00141342",
                 "q": "23.00000000", "f": 15373518, "l": 15373518, "T": 1570752011620, "m": True, "M": True},
    }
    assert len(timeline.market.agg_trades["XRPETH"]) == 12_477


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="nowhere.jsonl: recording file not found"):
        load_timeline([tmp_path / "nowhere.jsonl"])


def test_a_bad_line_is_named_with_its_number(tmp_path: Path) -> None:
    lines = btc_excerpt_lines(5)
    lines[2] = lines[2][:60]
    with pytest.raises(RecordingError, match=r"spot_BTCUSDT_cut.jsonl:3: bad recorded frame"):
        load_timeline([write(tmp_path / "spot_BTCUSDT_cut.jsonl", lines)])
    rows = BTC_KLINES.read_text().splitlines()[:4]
    rows[3] = rows[3].replace(rows[3].split(",")[2], "12x", 1)
    with pytest.raises(RecordingError, match=r"spot_BTCUSDT_1m_bad.csv:4: bad klines row: column 'high'"):
        load_timeline([write(tmp_path / "spot_BTCUSDT_1m_bad.csv", rows)])


def test_time_running_backwards_is_an_error(tmp_path: Path) -> None:
    lines = btc_excerpt_lines(5)
    lines[3], lines[4] = lines[4], lines[3]
    with pytest.raises(RecordingError, match=r"swapped.jsonl:5: .*backwards"):
        load_timeline([write(tmp_path / "spot_BTCUSDT_swapped.jsonl", lines)])


def test_unknown_formats_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="unknown recording format"):
        load_timeline([write(tmp_path / "data.parquet", ["x"])])
    with pytest.raises(RecordingError, match="unknown JSON-lines format"):
        load_timeline([write(tmp_path / "other.jsonl", ['{"ts": 1, "payload": {}}'])])
    with pytest.raises(RecordingError, match="exchangeInfo"):
        load_timeline([write(tmp_path / "other.json", ['{"ts": 1}'])])
    with pytest.raises(RecordingError, match="never fabricates"):
        load_timeline([])
