"""Faults the replay exchange injects on demand, seen from a real websocket client and python-binance."""

from __future__ import annotations

import asyncio
import csv
import gzip
import json
import re

import aiohttp
import pytest
from binance import AsyncClient
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK

from bot.sim import RECORDINGS_DIRECTORY, ReplayExchange, ReplaySettings, point_client_at

NKN_STREAMS = RECORDINGS_DIRECTORY / "spot_combined_NKNUSDT-BLZETH-LRCBTC-RUNEEUR_2021-10-12.jsonl"
BTC_STREAMS = RECORDINGS_DIRECTORY / "spot_BTCUSDT_depth100ms-bookTicker-trade_2024-08-08T2354_2024-08-09T0005.jsonl.gz"
XRPETH_AGG_TRADES = RECORDINGS_DIRECTORY / "spot_XRPETH_aggTrades_2019-10-11_2019-10-13.csv.gz"
NKN_DEPTH_AND_TICKER = "nknusdt@depth@100ms/nknusdt@bookTicker"


def settings(*recordings: object, **overrides: object) -> ReplaySettings:
    return ReplaySettings(recordings=recordings, ping_interval_s=None, **overrides)  # type: ignore[arg-type]


def nkn_payloads(stream: str) -> list[bytes]:
    pattern = re.compile(rb'"msg":\{"stream":"' + stream.encode() + rb'","data":(.*)\}\}$')
    return [match[1] for line in NKN_STREAMS.read_bytes().splitlines() if (match := pattern.search(line))]


async def read_until_closed(websocket: ClientConnection, timeout: float = 10.0) -> tuple[list[str], ConnectionClosed]:
    messages: list[str] = []
    async with asyncio.timeout(timeout):
        while True:
            try:
                messages.append(await websocket.recv())  # type: ignore[arg-type]
            except ConnectionClosed as closed:
                return messages, closed


@pytest.mark.parametrize(("mode", "closed_type", "code"), [("abrupt", ConnectionClosedError, None), ("clean", ConnectionClosedOK, 1001)])
async def test_drop_after_frames_delivers_exactly_that_many_then_drops(mode: str, closed_type: type, code: int | None) -> None:
    async with ReplayExchange(settings(NKN_STREAMS)) as exchange:
        exchange.drop_after_frames(50, mode=mode)
        async with connect(f"{exchange.ws_base_url}/stream?streams={NKN_DEPTH_AND_TICKER}") as websocket:
            messages, closed = await read_until_closed(websocket)
        assert len(messages) == 50
        assert isinstance(closed, closed_type)
        assert (closed.rcvd.code if closed.rcvd else None) == code  # abrupt: no close frame at all
        assert exchange.counters.connections_dropped_by_fault == {mode: 1}
        # Whoever reconnects is served again.
        async with connect(f"{exchange.ws_base_url}/ws") as websocket:
            await websocket.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
            async with asyncio.timeout(5):
                assert json.loads(await websocket.recv()) == {"result": [], "id": 1}


async def test_trades_missed_while_dropped_come_back_through_rest_backfill() -> None:
    with gzip.open(BTC_STREAMS, "rt") as file:
        all_ids = [json.loads(line)["msg"]["data"]["t"] for line in file if '"btcusdt@trade"' in line]
    async with ReplayExchange(settings(BTC_STREAMS)) as exchange:
        # A 5 s outage of exchange time: those trades happen while nobody is connected.
        exchange.drop_after_frames(3000, outage_ns=5_000_000_000)
        async with connect(f"{exchange.ws_base_url}/ws/btcusdt@trade") as websocket:
            before, _ = await read_until_closed(websocket)
        assert len(before) == 3000
        after: list[int] = []
        async with connect(f"{exchange.ws_base_url}/ws/btcusdt@trade") as websocket:
            async with asyncio.timeout(20):
                while not after or after[-1] != all_ids[-1]:
                    after.append(json.loads(await websocket.recv())["t"])
        received = [json.loads(message)["t"] for message in before]
        assert received == all_ids[:3000]
        assert after[0] > received[-1] + 1, "the outage must have cost the stream some trades"
        client = point_client_at(AsyncClient(api_key=None, api_secret=None), exchange.rest_base_url)
        try:
            backfill: list[int] = []
            next_id = received[-1] + 1
            while next_id < after[0]:
                page = await client.get_historical_trades(symbol="BTCUSDT", fromId=next_id, limit=1000)
                backfill.extend(trade["id"] for trade in page if trade["id"] < after[0])
                next_id = page[-1]["id"] + 1
        finally:
            await client.close_connection()
        assert received + backfill + after == all_ids


async def test_a_stalled_stream_sends_nothing_for_its_duration_while_others_continue() -> None:
    lines = [json.loads(line) for line in NKN_STREAMS.read_bytes().splitlines()]
    stall_end = lines[0]["recv_time_s"] + 5.0
    depth = [line for line in lines if line["msg"]["stream"] == "nknusdt@depth@100ms"]
    kept = [line["msg"]["data"]["u"] for line in depth if line["recv_time_s"] >= stall_end]
    async with ReplayExchange(settings(NKN_STREAMS)) as exchange:
        exchange.stall_stream("nknusdt@depth@100ms", duration_ns=5_000_000_000)
        async with connect(f"{exchange.ws_base_url}/stream?streams={NKN_DEPTH_AND_TICKER}") as websocket:
            async with asyncio.timeout(10):
                messages = [json.loads(await websocket.recv()) for _ in range(len(kept) + 74)]
        assert [m["data"]["u"] for m in messages if m["stream"] == "nknusdt@depth@100ms"] == kept
        assert sum(m["stream"] == "nknusdt@bookTicker" for m in messages) == 74
        assert exchange.counters.frames_withheld_by_fault == {"nknusdt@depth@100ms": len(depth) - len(kept)}


async def test_a_stream_stalled_until_released_resumes_with_later_frames_only() -> None:
    recorded = nkn_payloads("nknusdt@bookTicker")
    async with ReplayExchange(settings(NKN_STREAMS, speed=20.0)) as exchange:
        exchange.stall_stream("nknusdt@bookTicker")
        async with connect(f"{exchange.ws_base_url}/ws/nknusdt@bookTicker") as websocket:
            await asyncio.sleep(0.6)  # 12 s of the 30 s recording at 20x
            exchange.release_stream("nknusdt@bookTicker")
            await exchange.wait_finished()
            received = []
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    while True:
                        received.append((await websocket.recv()).encode())
    assert 0 < len(received) < len(recorded)
    assert received == recorded[-len(received) :]


@pytest.mark.parametrize("kind", ["truncated_json", "unknown_event", "missing_field", "wrong_type"])
async def test_malformed_frame_is_inserted_before_the_real_one(kind: str) -> None:
    recorded = nkn_payloads("nknusdt@bookTicker")
    async with ReplayExchange(settings(NKN_STREAMS)) as exchange:
        exchange.send_malformed(kind, stream="nknusdt@bookTicker")
        # max_queue=None: a websockets client whose receive queue is full cannot finish the closing
        # handshake until its close timeout, and this client leaves frames unread.
        async with connect(f"{exchange.ws_base_url}/ws/nknusdt@bookTicker", max_queue=None) as websocket:
            async with asyncio.timeout(5):
                bad, first, second = [await websocket.recv() for _ in range(3)]
    assert (first.encode(), second.encode()) == (recorded[0], recorded[1])
    real = json.loads(recorded[0])
    if kind == "truncated_json":
        assert recorded[0].startswith(bad.encode()) and len(bad) < len(recorded[0])
        with pytest.raises(json.JSONDecodeError):
            json.loads(bad)
    elif kind == "unknown_event":
        assert json.loads(bad) == {"e": "simUnknownEvent", **real}
    elif kind == "missing_field":
        assert json.loads(bad) == {key: value for key, value in real.items() if key != "u"}
    else:
        assert json.loads(bad) == {**real, "u": str(real["u"])}
    assert exchange.counters.malformed_frames_sent == 1


async def test_malformed_frame_can_replace_the_real_one_on_a_combined_stream() -> None:
    recorded = nkn_payloads("nknusdt@bookTicker")
    async with ReplayExchange(settings(NKN_STREAMS)) as exchange:
        exchange.send_malformed("missing_field", replace=True)
        async with connect(f"{exchange.ws_base_url}/stream?streams=nknusdt@bookTicker", max_queue=None) as websocket:
            async with asyncio.timeout(5):
                bad, following = [json.loads(await websocket.recv()) for _ in range(2)]
    assert bad["stream"] == "nknusdt@bookTicker" and "u" not in bad["data"]
    assert json.dumps(following["data"], separators=(",", ":")).encode() == recorded[1]


async def test_skipped_ids_are_missing_from_the_stream_but_served_over_rest() -> None:
    with gzip.open(XRPETH_AGG_TRADES, "rt") as file:
        ids = [int(row["agg_trade_id"]) for row in csv.DictReader(file)]
    first, last = ids[10], ids[19]
    async with ReplayExchange(settings(XRPETH_AGG_TRADES)) as exchange:
        exchange.skip_ids("xrpeth@aggTrade", first, last)
        async with connect(f"{exchange.ws_base_url}/ws/xrpeth@aggTrade") as websocket:
            async with asyncio.timeout(10):
                received = [json.loads(await websocket.recv())["a"] for _ in range(len(ids) - 10)]
        assert received == ids[:10] + ids[20:]
        assert exchange.counters.frames_withheld_by_fault == {"xrpeth@aggTrade": 10}
        client = point_client_at(AsyncClient(api_key=None, api_secret=None), exchange.rest_base_url)
        try:
            backfill = await client.get_aggregate_trades(symbol="XRPETH", fromId=first, limit=10)
        finally:
            await client.close_connection()
        assert [agg["a"] for agg in backfill] == ids[10:20]


async def test_server_shutdown_event_then_the_connection_closes() -> None:
    async with ReplayExchange(settings(NKN_STREAMS)) as exchange:
        async with connect(f"{exchange.ws_base_url}/ws/nknusdt@bookTicker", max_queue=None) as websocket:
            async with asyncio.timeout(5):
                await websocket.recv()
            assert exchange.server_shutdown() == 1
            messages, closed = await read_until_closed(websocket)
        assert json.loads(messages[-1]) == {"e": "serverShutdown", "E": exchange.server_time_ms()}
        assert isinstance(closed, ConnectionClosedOK) and closed.rcvd is not None and closed.rcvd.code == 1001
        assert exchange.counters.connections_dropped_by_fault == {"server_shutdown": 1}


async def test_control_endpoint_triggers_faults_from_another_process() -> None:
    async with ReplayExchange(settings(NKN_STREAMS)) as exchange:
        faults_url = f"{exchange.rest_base_url}/sim/faults"
        async with aiohttp.ClientSession() as session:
            async with connect(f"{exchange.ws_base_url}/ws") as websocket:
                async with session.post(faults_url, json={"fault": "drop_connections", "mode": "clean"}) as response:
                    assert response.status == 200
                    assert await response.json() == {"fault": "drop_connections", "result": 1}
                _, closed = await read_until_closed(websocket)
                assert closed.rcvd is not None and closed.rcvd.code == 1001
            async with session.post(faults_url, json={"fault": "melt_down"}) as response:
                assert response.status == 400 and "unknown fault" in (await response.json())["error"]
            async with session.post(faults_url, json={"fault": "skip_ids", "stream": "x"}) as response:
                assert response.status == 400 and "bad arguments" in (await response.json())["error"]
            async with session.post(faults_url, json={"fault": "send_malformed", "kind": "wrong_type"}) as response:
                assert response.status == 200
            async with session.get(f"{exchange.rest_base_url}/sim/counters") as response:
                counters = await response.json()
            assert counters["connections_dropped_by_fault"] == {"clean": 1}
            assert counters["connections_accepted"] == 1
            async with session.get(f"{exchange.rest_base_url}/sim/status") as response:
                assert (await response.json())["events"] == len(exchange.timeline)
