"""Fault bookkeeping and malformed-frame building, without sockets."""

from __future__ import annotations

import json

import pytest

from bot.sim.connection import text_frame_header
from bot.sim.faults import FaultState, malformed_frame, server_shutdown_frame
from bot.sim.records import combined_frame
from bot.sim.settings import ReplaySettings
from bot.sim.stream_server import parse_target

# A real recorded trade frame (BTCUSDT, 2024-08-08).
TRADE = (
    b'{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000",'
    b'"q":"0.02000000","T":1723161255342,"m":true,"M":true}'
)


def test_malformed_kinds_damage_a_copy_of_the_real_frame() -> None:
    frame, offset = combined_frame("btcusdt@trade", TRADE)
    truncated = malformed_frame("truncated_json", "btcusdt@trade", frame, offset)
    assert frame.startswith(truncated.combined) and TRADE.startswith(truncated.raw)
    real = json.loads(TRADE)
    unknown = malformed_frame("unknown_event", "btcusdt@trade", frame, offset)
    assert json.loads(unknown.raw) == {**real, "e": "simUnknownEvent"}
    assert json.loads(unknown.combined) == {"stream": "btcusdt@trade", "data": json.loads(unknown.raw)}
    missing = malformed_frame("missing_field", "btcusdt@trade", frame, offset)
    assert "p" not in json.loads(missing.raw)
    retyped = malformed_frame("wrong_type", "btcusdt@trade", frame, offset)
    assert json.loads(retyped.raw)["t"] == "3735683259"


def test_stall_ends_at_its_timeline_time_and_skip_ranges_hold_ids() -> None:
    faults = FaultState()
    faults.stalled["btcusdt@trade"] = 1_000
    faults.skipped_ids["btcusdt@trade"] = [(10, 12)]
    assert faults.withhold("btcusdt@trade", 1, time_ns=999)
    assert not faults.withhold("btcusdt@trade", 1, time_ns=1_000)
    assert "btcusdt@trade" not in faults.stalled
    assert [faults.withhold("btcusdt@trade", item, 2_000) for item in (9, 10, 12, 13)] == [False, True, True, False]
    faults.stalled["btcusdt@depth"] = None  # until released
    assert faults.withhold("btcusdt@depth", -1, time_ns=10**20)


def test_malformed_requests_for_a_stream_come_before_catch_all_ones() -> None:
    faults = FaultState()
    faults.add_malformed("wrong_type", None, replace=False)
    faults.add_malformed("truncated_json", "btcusdt@trade", replace=True)
    assert faults.take_malformed("btcusdt@trade") == ("truncated_json", True)
    assert faults.take_malformed("btcusdt@depth") == ("wrong_type", False)
    assert faults.take_malformed("btcusdt@trade") is None and not faults.affects_dispatch
    with pytest.raises(ValueError, match="unknown malformed frame kind"):
        faults.add_malformed("garbled", None, replace=False)


def test_server_shutdown_frame_is_bare_on_every_connection() -> None:
    frame = server_shutdown_frame(1723161255343)
    assert frame.combined == frame.raw == b'{"e":"serverShutdown","E":1723161255343}'


@pytest.mark.parametrize(("length", "header"), [(0, b"\x81\x00"), (125, b"\x81\x7d"), (126, b"\x81\x7e\x00\x7e"),
                                               (65535, b"\x81\x7e\xff\xff"), (65536, b"\x81\x7f" + (65536).to_bytes(8, "big"))])
def test_text_frame_headers_follow_rfc_6455(length: int, header: bytes) -> None:
    assert text_frame_header(length) == header


def test_stream_paths() -> None:
    combined = parse_target("/stream?streams=btcusdt@trade/btcusdt@depth@100ms")
    assert combined is not None and combined.combined and combined.streams == ["btcusdt@trade", "btcusdt@depth@100ms"]
    raw = parse_target("/ws/btcusdt@trade")
    assert raw is not None and not raw.combined and raw.streams == ["btcusdt@trade"]
    assert parse_target("/ws") == parse_target("/ws/")
    assert parse_target("/api/v3/ping") is None


def test_settings_validate_once() -> None:
    assert ReplaySettings(recordings=("a.jsonl",), speed="max").speed is None  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="speed"):
        ReplaySettings(recordings=("a.jsonl",), speed=0)
    with pytest.raises(ValueError, match="unknown replay exchange setting.*spede"):
        ReplaySettings.from_mapping({"recordings": ["a.jsonl"], "spede": 2})
    settings = ReplaySettings.from_mapping({"recordings": [{"path": "c.csv", "symbol": "BTCUSDT", "interval": "1m"}]})
    assert settings.recordings[0].symbol == "BTCUSDT"
