"""The replay exchange's websocket side over real loopback sockets: replayed bytes, Binance's control
messages and connection limits, keepalive, pacing."""

from __future__ import annotations

import asyncio
import csv
import gzip
import json
import re
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bot.sim import RECORDINGS_DIRECTORY, ReplayExchange, ReplaySettings

NKN_STREAMS = RECORDINGS_DIRECTORY / "spot_combined_NKNUSDT-BLZETH-LRCBTC-RUNEEUR_2021-10-12.jsonl"
NKN_SNAPSHOTS = RECORDINGS_DIRECTORY / "spot_depth_snapshots_limit1000_2021-10-12.jsonl"
BTC_STREAMS = RECORDINGS_DIRECTORY / "spot_BTCUSDT_depth100ms-bookTicker-trade_2024-08-08T2354_2024-08-09T0005.jsonl.gz"
BTC_KLINES = RECORDINGS_DIRECTORY / "spot_BTCUSDT_1m_2020-12-01_2020-12-02.csv"
_LINE = re.compile(rb'^\{"recv_time_(?:ns|s)":[0-9.]+,"msg":(?P<msg>.*)\}$')
_WRAPPED = re.compile(rb'^\{"stream":"(?P<stream>[^"]+)","data":(?P<data>.*)\}$')


def recorded_frames(path: Path) -> list[tuple[str, bytes, bytes]]:
    """(stream, combined frame, raw payload) sliced straight from the file's text, independently of
    the loader, so a test compares the wire against the recorded bytes."""
    content = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    frames = []
    for line in content.splitlines():
        message = _LINE.match(line)
        assert message is not None
        wrapped = _WRAPPED.match(message["msg"])
        if wrapped is not None:
            frames.append((wrapped["stream"].decode(), message["msg"], wrapped["data"]))
    return frames


def settings(*recordings: Path, **overrides: object) -> ReplaySettings:
    return ReplaySettings(recordings=recordings, ping_interval_s=None, **overrides)  # type: ignore[arg-type]


async def receive(websocket: ClientConnection, count: int, timeout: float = 10.0) -> list[str]:
    async with asyncio.timeout(timeout):
        return [await websocket.recv() for _ in range(count)]


async def request(websocket: ClientConnection, payload: object) -> dict:
    await websocket.send(payload if isinstance(payload, str) else json.dumps(payload))
    return json.loads(await receive_one(websocket))


async def receive_one(websocket: ClientConnection) -> str:
    async with asyncio.timeout(5):
        return await websocket.recv()  # type: ignore[return-value]


@pytest.mark.parametrize("direct_frame_writes", [True, False])
async def test_combined_stream_replays_exactly_the_recorded_frames_in_order(direct_frame_writes: bool) -> None:
    wanted = ("nknusdt@depth@100ms", "nknusdt@bookTicker", "lrcbtc@kline_1m")
    expected = [frame for stream, frame, _ in recorded_frames(NKN_STREAMS) if stream in wanted]
    options = settings(NKN_STREAMS, NKN_SNAPSHOTS, direct_frame_writes=direct_frame_writes)
    async with ReplayExchange(options) as exchange:
        url = f"{exchange.ws_base_url}/stream?streams={'/'.join(wanted)}"
        async with connect(url) as websocket:
            received = await receive(websocket, len(expected))
            await exchange.wait_finished()
        assert [message.encode() for message in received] == expected
        assert exchange.counters.frames_sent_by_stream == {
            "nknusdt@depth@100ms": 150, "nknusdt@bookTicker": 74, "lrcbtc@kline_1m": 1,
        }
        assert exchange.counters.connections_accepted == 1
        assert exchange.counters.control_message_limit_violations == 0


async def test_raw_stream_path_sends_the_recorded_payload_without_the_wrapper() -> None:
    expected = [data for stream, _, data in recorded_frames(NKN_STREAMS) if stream == "nknusdt@bookTicker"]
    async with ReplayExchange(settings(NKN_STREAMS)) as exchange:
        async with connect(f"{exchange.ws_base_url}/ws/nknusdt@bookTicker") as websocket:
            received = await receive(websocket, len(expected))
    assert [message.encode() for message in received] == expected


async def test_control_messages_answer_like_binance() -> None:
    frames = recorded_frames(NKN_STREAMS)
    async with ReplayExchange(settings(NKN_STREAMS)) as exchange:
        async with connect(f"{exchange.ws_base_url}/ws") as websocket:
            assert await request(websocket, {"method": "LIST_SUBSCRIPTIONS", "id": 1}) == {"result": [], "id": 1}
            subscribe = {"method": "SUBSCRIBE", "params": ["nknusdt@aggTrade", "lrcbtc@aggTrade"], "id": 2}
            assert await request(websocket, subscribe) == {"result": None, "id": 2}
            # The replay starts with the first subscription: both aggTrade frames arrive, raw,
            # interleaved with the answers to later requests.
            await websocket.send(json.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": 3}))
            await websocket.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 4}))
            messages = await receive(websocket, 4)
            answers = [json.loads(message) for message in messages if '"id"' in message]
            data = [message.encode() for message in messages if '"id"' not in message]
            assert answers == [
                {"result": False, "id": 3},
                {"result": ["nknusdt@aggTrade", "lrcbtc@aggTrade"], "id": 4},
            ]
            assert data == [data for stream, _, data in frames if stream.endswith("@aggTrade")]
            await asyncio.sleep(1.1)  # stay under 5 messages a second
            unsubscribe = {"method": "UNSUBSCRIBE", "params": ["lrcbtc@aggTrade"], "id": 5}
            assert await request(websocket, unsubscribe) == {"result": None, "id": 5}
            assert await request(websocket, {"method": "SET_PROPERTY", "params": ["combined", True], "id": 6}) == {
                "result": None, "id": 6,
            }
            assert await request(websocket, {"method": "GET_PROPERTY", "params": ["combined"], "id": 7}) == {
                "result": True, "id": 7,
            }
            assert (await request(websocket, {"method": "LIST_SUBSCRIPTIONS", "id": 8}))["result"] == [
                "nknusdt@aggTrade"
            ]
        assert exchange.counters.control_message_limit_violations == 0


async def test_set_property_combined_wraps_later_frames() -> None:
    expected = [frame for stream, frame, _ in recorded_frames(NKN_STREAMS) if stream == "nknusdt@bookTicker"]
    async with ReplayExchange(settings(NKN_STREAMS)) as exchange:
        async with connect(f"{exchange.ws_base_url}/ws") as websocket:
            assert await request(websocket, {"method": "SET_PROPERTY", "params": ["combined", True], "id": 1}) == {
                "result": None, "id": 1,
            }
            assert await request(websocket, {"method": "SUBSCRIBE", "params": ["nknusdt@bookTicker"], "id": 2}) == {
                "result": None, "id": 2,
            }
            received = await receive(websocket, len(expected))
    assert [message.encode() for message in received] == expected


async def test_bad_control_messages_get_binance_error_objects() -> None:
    async with ReplayExchange(settings(NKN_STREAMS)) as exchange:
        async with connect(f"{exchange.ws_base_url}/ws") as websocket:
            invalid_json = await request(websocket, "{not json")
            assert invalid_json["error"]["code"] == 3 and invalid_json["id"] is None
            unknown = await request(websocket, {"method": "SUBSCRIBEX", "params": [], "id": 7})
            assert unknown["error"]["code"] == 2 and "unknown variant `SUBSCRIBEX`" in unknown["error"]["msg"]
            assert unknown["id"] == 7
            bad_id = await request(websocket, {"method": "SUBSCRIBE", "params": [], "id": -1})
            assert bad_id["error"] == {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}
            await asyncio.sleep(1.1)
            unknown_property = await request(websocket, {"method": "SET_PROPERTY", "params": ["x", True], "id": 8})
            assert unknown_property == {"error": {"code": 0, "msg": "Unknown property"}, "id": 8}
            bad_value = await request(websocket, {"method": "SET_PROPERTY", "params": ["combined", 1], "id": 9})
            assert bad_value["error"]["code"] == 1
            missing_method = await request(websocket, {"params": [], "id": 10})
            assert missing_method["error"]["msg"] == "Invalid request: missing field `method`"
        assert exchange.counters.control_message_errors == 6


async def test_more_than_five_messages_a_second_disconnects_and_is_counted() -> None:
    async with ReplayExchange(settings(NKN_STREAMS)) as exchange:
        async with connect(f"{exchange.ws_base_url}/ws") as websocket:
            for request_id in range(5):
                await websocket.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": request_id}))
            assert len(await receive(websocket, 5)) == 5
            await websocket.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 5}))
            with pytest.raises(ConnectionClosed) as closed:
                await receive(websocket, 1)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert exchange.counters.control_message_limit_violations == 1


async def test_more_than_1024_streams_disconnects_and_is_counted() -> None:
    async with ReplayExchange(settings(NKN_STREAMS)) as exchange:
        async with connect(f"{exchange.ws_base_url}/ws") as websocket:
            streams = [f"sym{number}usdt@trade" for number in range(1025)]
            await websocket.send(json.dumps({"method": "SUBSCRIBE", "params": streams, "id": 1}))
            with pytest.raises(ConnectionClosed) as closed:
                await receive(websocket, 1)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert exchange.counters.stream_limit_violations == 1


async def test_a_client_that_never_answers_pings_is_disconnected() -> None:
    quick_pings = ReplaySettings(
        recordings=(NKN_STREAMS,), ping_interval_s=0.2, pong_timeout_s=0.3, close_timeout_s=0.3
    )
    async with ReplayExchange(quick_pings) as exchange:
        # A well-behaved client (websockets answers pings by itself) stays connected...
        async with connect(f"{exchange.ws_base_url}/ws") as polite:
            host, port = exchange.ws_base_url.removeprefix("ws://").split(":")
            # ... while a bare TCP client that completes the handshake and then never reads is
            # dropped once the pong timeout passes.
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            await writer.drain()
            assert (await reader.readline()).startswith(b"HTTP/1.1 101")
            async with asyncio.timeout(5):
                while exchange.counters.pong_timeouts == 0:
                    await asyncio.sleep(0.05)
            writer.close()
            assert await request(polite, {"method": "LIST_SUBSCRIPTIONS", "id": 1}) == {"result": [], "id": 1}
        assert exchange.counters.pong_timeouts == 1


async def test_unknown_path_is_refused() -> None:
    async with ReplayExchange(settings(NKN_STREAMS)) as exchange:
        with pytest.raises(Exception, match="404"):
            async with connect(f"{exchange.ws_base_url}/nope"):
                pass


async def test_klines_table_gives_an_open_update_then_the_closed_bar_with_exact_strings() -> None:
    with BTC_KLINES.open() as file:
        rows = list(csv.DictReader(file))
    async with ReplayExchange(settings(BTC_KLINES)) as exchange:
        async with connect(f"{exchange.ws_base_url}/ws/btcusdt@kline_1m") as websocket:
            events = [json.loads(message) for message in await receive(websocket, 2 * len(rows))]
    for number, row in enumerate(rows):
        update, closed = events[2 * number], events[2 * number + 1]
        assert (update["k"]["x"], closed["k"]["x"]) == (False, True)
        for event in (update, closed):
            bar = event["k"]
            assert event["e"] == "kline" and event["s"] == "BTCUSDT" and bar["i"] == "1m"
            assert (bar["t"], bar["T"]) == (int(row["open_time_ms"]), int(row["close_time_ms"]))
            assert (bar["o"], bar["h"], bar["l"], bar["c"], bar["v"]) == (
                row["open"], row["high"], row["low"], row["close"], row["volume"],
            )
            assert (bar["q"], bar["n"], bar["V"], bar["Q"]) == (
                row["quote_volume"], int(row["trades"]), row["taker_buy_base"], row["taker_buy_quote"],
            )
            assert (bar["f"], bar["L"], bar["B"]) == (-1, -1, "0")
        assert update["E"] == int(row["close_time_ms"]) and closed["E"] == int(row["close_time_ms"]) + 1


async def test_the_full_btcusdt_recording_replays_byte_exact() -> None:
    expected = recorded_frames(BTC_STREAMS)
    assert len(expected) == 99_573  # 99,574 lines, one of them the REST snapshot
    streams = "btcusdt@depth@100ms/btcusdt@bookTicker/btcusdt@trade"
    async with ReplayExchange(settings(BTC_STREAMS)) as exchange:
        async with connect(f"{exchange.ws_base_url}/stream?streams={streams}", max_size=None) as websocket:
            received = await receive(websocket, len(expected), timeout=60)
    assert all(message.encode() == frame for message, (_, frame, _) in zip(received, expected, strict=True))
    assert exchange.counters.frames_sent == 99_573


async def test_paced_replay_follows_the_recorded_spacing() -> None:
    frames = [line for line in NKN_STREAMS.read_bytes().splitlines() if b"nknusdt@bookTicker" in line]
    times = [json.loads(line)["recv_time_s"] for line in frames]
    speed = 20.0
    async with ReplayExchange(settings(NKN_STREAMS, speed=speed)) as exchange:
        async with connect(f"{exchange.ws_base_url}/ws/nknusdt@bookTicker") as websocket:
            arrivals = []
            async with asyncio.timeout(10):
                for _ in frames:
                    await websocket.recv()
                    arrivals.append(time.monotonic())
    # The first bookTicker comes 1.3 s into the recording, and the cursor starts at the file's start.
    recorded_span = (times[-1] - times[0]) / speed
    assert recorded_span * 0.8 < arrivals[-1] - arrivals[0] < recorded_span * 1.5 + 0.2


async def test_loop_starts_the_timeline_again() -> None:
    expected = [data for stream, _, data in recorded_frames(NKN_STREAMS) if stream == "nknusdt@bookTicker"]
    async with ReplayExchange(settings(NKN_STREAMS, loop=True)) as exchange:
        async with connect(f"{exchange.ws_base_url}/ws/nknusdt@bookTicker", max_queue=None) as websocket:
            received = await receive(websocket, 2 * len(expected) + 1)
        assert [message.encode() for message in received] == expected + expected + expected[:1]
        assert exchange.status()["passes_completed"] >= 2
