"""The replay exchange's REST side, driven through python-binance's AsyncClient over loopback."""

from __future__ import annotations

import contextlib
import csv
import functools
import gzip
import json
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from binance import AsyncClient
from binance.exceptions import BinanceAPIException

from bot.clock import ManualClock
from bot.sim import RECORDINGS_DIRECTORY, ReplayExchange, ReplaySettings, point_client_at
from bot.sim.timeline import Timeline, load_timeline

BTC_STREAMS = RECORDINGS_DIRECTORY / "spot_BTCUSDT_depth100ms-bookTicker-trade_2024-08-08T2354_2024-08-09T0005.jsonl.gz"
BTC_KLINES = RECORDINGS_DIRECTORY / "spot_BTCUSDT_1m_2020-12-01_2020-12-02.csv"
XRPETH_AGG_TRADES = RECORDINGS_DIRECTORY / "spot_XRPETH_aggTrades_2019-10-11_2019-10-13.csv.gz"
EXCHANGE_INFO = RECORDINGS_DIRECTORY / "spot_exchangeInfo_2021-10-12.json.gz"
NKN_STREAMS = RECORDINGS_DIRECTORY / "spot_combined_NKNUSDT-BLZETH-LRCBTC-RUNEEUR_2021-10-12.jsonl"
NKN_SNAPSHOTS = RECORDINGS_DIRECTORY / "spot_depth_snapshots_limit1000_2021-10-12.jsonl"
RECORDINGS = (BTC_STREAMS, BTC_KLINES, XRPETH_AGG_TRADES, EXCHANGE_INFO, NKN_STREAMS, NKN_SNAPSHOTS)
START_OF_A_MINUTE_NS = 1_700_000_040_000_000_000


@functools.cache
def shared_timeline() -> Timeline:
    # Loaded once for the module; every exchange below only reads it.
    return load_timeline(list(RECORDINGS))


@functools.cache
def btc_recording() -> list[dict]:
    """The BTCUSDT capture parsed independently of the loader (json keeps strings as strings)."""
    return [json.loads(line)["msg"] for line in gzip.decompress(BTC_STREAMS.read_bytes()).splitlines()]


@contextlib.asynccontextmanager
async def running(clock: ManualClock | None = None, **overrides: object) -> AsyncIterator[tuple[ReplayExchange, AsyncClient]]:
    settings = ReplaySettings(recordings=RECORDINGS, ping_interval_s=None, **overrides)  # type: ignore[arg-type]
    async with ReplayExchange(settings, clock=clock, timeline=shared_timeline()) as exchange:
        # Not AsyncClient.create(): that pings the real exchange before it can be redirected.
        client = point_client_at(AsyncClient(api_key=None, api_secret=None), exchange.rest_base_url)
        try:
            yield exchange, client
        finally:
            await client.close_connection()


async def run_to_end(exchange: ReplayExchange) -> None:
    exchange.advance_unattended()
    await exchange.wait_finished()


async def test_the_exchange_serves_nothing_from_the_future() -> None:
    snapshot = next(message for message in btc_recording() if "lastUpdateId" in message)
    async with running() as (exchange, client):
        assert await client.ping() == {}
        assert (await client.get_server_time())["serverTime"] == exchange.timeline.server_ms[0]
        assert await client.get_historical_trades(symbol="BTCUSDT") == []
        assert await client.get_aggregate_trades(symbol="XRPETH") == []
        assert await client.get_klines(symbol="BTCUSDT", interval="1m") == []
        # Before the snapshot point the recorded snapshot itself is served, ahead of the stream.
        book = await client.get_order_book(symbol="BTCUSDT", limit=1000)
        assert book == {key: snapshot[key] for key in ("lastUpdateId", "bids", "asks")}


async def test_historical_and_recent_trades_page_by_id_with_exact_strings() -> None:
    trades = [message["data"] for message in btc_recording() if message.get("stream") == "btcusdt@trade"]
    first_id = trades[0]["t"]
    async with running() as (exchange, client):
        await run_to_end(exchange)
        page = await client.get_historical_trades(symbol="BTCUSDT", fromId=first_id + 100, limit=5)
        assert [trade["id"] for trade in page] == list(range(first_id + 100, first_id + 105))
        for served, recorded in zip(page, trades[100:105], strict=True):
            assert (served["price"], served["qty"], served["time"]) == (recorded["p"], recorded["q"], recorded["T"])
            assert (served["isBuyerMaker"], served["isBestMatch"]) == (recorded["m"], recorded["M"])
            exact = Decimal(recorded["p"]) * Decimal(recorded["q"])
            assert Decimal(served["quoteQty"]) == exact and len(served["quoteQty"].split(".")[1]) == 8
        collected: list[int] = []
        next_id = first_id
        while True:
            page = await client.get_historical_trades(symbol="BTCUSDT", fromId=next_id, limit=1000)
            if not page:
                break
            collected.extend(trade["id"] for trade in page)
            next_id = page[-1]["id"] + 1
        assert collected == [trade["t"] for trade in trades] and len(collected) == 19_904
        recent = await client.get_recent_trades(symbol="BTCUSDT", limit=10)
        assert [trade["id"] for trade in recent] == [trade["t"] for trade in trades[-10:]]


async def test_aggregate_trades_by_from_id_and_by_time() -> None:
    with gzip.open(XRPETH_AGG_TRADES, "rt") as file:
        rows = list(csv.DictReader(file))
    async with running() as (exchange, client):
        await run_to_end(exchange)
        first_id = int(rows[0]["agg_trade_id"])
        page = await client.get_aggregate_trades(symbol="XRPETH", fromId=first_id + 50, limit=3)
        for served, row in zip(page, rows[50:53], strict=True):
            assert served == {
                "a": int(row["agg_trade_id"]), "p": row["price"], "q": row["quantity"],
                "f": int(row["first_trade_id"]), "l": int(row["last_trade_id"]),
                "T": int(row["transact_time"]), "m": row["is_buyer_maker"] == "True",
                "M": row["is_best_match"] == "True",
            }
        collected: list[int] = []
        next_id = first_id
        while page := await client.get_aggregate_trades(symbol="XRPETH", fromId=next_id, limit=1000):
            collected.extend(agg["a"] for agg in page)
            next_id = page[-1]["a"] + 1
        assert collected == [int(row["agg_trade_id"]) for row in rows]
        start = int(rows[100]["transact_time"])
        end = start + 600_000
        window = await client.get_aggregate_trades(symbol="XRPETH", startTime=start, endTime=end)
        assert [agg["a"] for agg in window] == [
            int(row["agg_trade_id"]) for row in rows if start <= int(row["transact_time"]) <= end
        ]


async def test_klines_page_by_start_time_with_the_twelve_binance_columns() -> None:
    with BTC_KLINES.open() as file:
        rows = list(csv.DictReader(file))
    async with running() as (exchange, client):
        await run_to_end(exchange)
        bars: list[list] = []
        start = 0
        while page := await client.get_klines(symbol="BTCUSDT", interval="1m", startTime=start, limit=500):
            bars.extend(page)
            start = page[-1][0] + 1
    assert len(bars) == len(rows) == 1441
    for bar, row in zip(bars, rows, strict=True):
        assert bar == [
            int(row["open_time_ms"]), row["open"], row["high"], row["low"], row["close"], row["volume"],
            int(row["close_time_ms"]), row["quote_volume"], int(row["trades"]), row["taker_buy_base"],
            row["taker_buy_quote"], "0",
        ]


def expected_book(messages: list[dict], symbol: str) -> tuple[int, dict[Decimal, str], dict[Decimal, str]]:
    """Binance's documented procedure, written out independently of the exchange's code."""
    snapshot = next(message for message in messages if "lastUpdateId" in message)
    bids = {Decimal(price): price for price, _ in snapshot["bids"]}
    asks = {Decimal(price): price for price, _ in snapshot["asks"]}
    quantities = {("b", Decimal(p)): q for p, q in snapshot["bids"]} | {("a", Decimal(p)): q for p, q in snapshot["asks"]}
    last_id = snapshot["lastUpdateId"]
    for message in messages:
        data = message.get("data", {})
        if data.get("e") != "depthUpdate" or data["s"] != symbol or data["u"] <= snapshot["lastUpdateId"]:
            continue
        for side, levels, book in (("b", data["b"], bids), ("a", data["a"], asks)):
            for price, quantity in levels:
                if Decimal(quantity) == 0:
                    book.pop(Decimal(price), None)
                    quantities.pop((side, Decimal(price)), None)
                else:
                    book[Decimal(price)] = price
                    quantities[(side, Decimal(price))] = quantity
        last_id = data["u"]
    bid_levels = {key: quantities[("b", key)] for key in bids}
    ask_levels = {key: quantities[("a", key)] for key in asks}
    return last_id, {key: f"{bids[key]}|{bid_levels[key]}" for key in bids}, {
        key: f"{asks[key]}|{ask_levels[key]}" for key in asks
    }


async def test_depth_is_the_snapshot_plus_the_replayed_diffs() -> None:
    last_id, bids, asks = expected_book(btc_recording(), "BTCUSDT")
    async with running() as (exchange, client):
        await run_to_end(exchange)
        book = await client.get_order_book(symbol="BTCUSDT", limit=20)
        assert book["lastUpdateId"] == last_id
        assert [f"{price}|{quantity}" for price, quantity in book["bids"]] == [
            bids[key] for key in sorted(bids, reverse=True)[:20]
        ]
        assert [f"{price}|{quantity}" for price, quantity in book["asks"]] == [asks[key] for key in sorted(asks)[:20]]
        assert len((await client.get_order_book(symbol="BTCUSDT", limit=5))["bids"]) == 5
        # cryptofeed recordings: the snapshot comes from the separate snapshots file.
        nkn = [json.loads(line)["msg"] for line in NKN_STREAMS.read_bytes().splitlines()]
        nkn_last = max(message["data"]["u"] for message in nkn if message["stream"] == "nknusdt@depth@100ms")
        assert (await client.get_order_book(symbol="NKNUSDT"))["lastUpdateId"] == nkn_last
        assert (await client.get_server_time())["serverTime"] == max(exchange.timeline.server_ms)


async def test_exchange_info_is_the_recorded_body_with_symbol_filters() -> None:
    async with running() as (exchange, client):
        info = await client.get_exchange_info()
        assert len(info["symbols"]) == 1695
        async with aiohttp.ClientSession() as session:
            url = f"{exchange.rest_base_url}/api/v3/exchangeInfo"
            async with session.get(url, params={"symbol": "BTCUSDT"}) as response:
                assert [item["symbol"] for item in (await response.json())["symbols"]] == ["BTCUSDT"]
            async with session.get(url, params={"symbols": '["ETHUSDT","BTCUSDT"]'}) as response:
                assert [item["symbol"] for item in (await response.json())["symbols"]] == ["ETHUSDT", "BTCUSDT"]
            async with session.get(url, params={"symbol": "NOSUCHCOIN"}) as response:
                assert response.status == 400 and (await response.json())["code"] == -1121


async def test_used_weight_is_reported_and_429_comes_with_retry_after() -> None:
    clock = ManualClock(START_OF_A_MINUTE_NS + 30_000_000_000)  # half way through a minute
    async with running(clock=clock, weight_limit_per_minute=50) as (exchange, client):
        await client.get_exchange_info()
        await client.get_exchange_info()
        assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "40"
        assert client.response.headers["x-mbx-used-weight"] == "40"
        with pytest.raises(BinanceAPIException) as refused:
            await client.get_exchange_info()
        assert (refused.value.status_code, refused.value.code) == (429, -1003)
        assert refused.value.response.headers["Retry-After"] == "30"
        clock.advance(30_000_000_000)  # the next minute starts a fresh window
        await client.get_klines(symbol="BTCUSDT", interval="1m")
        assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "2"
        await client.get_order_book(symbol="BTCUSDT", limit=500)
        assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "27"
        assert exchange.counters.rest_rate_limited == 1


@pytest.mark.parametrize(
    ("call", "code"),
    [
        ({"method": "get_klines", "symbol": "NOSUCHCOIN", "interval": "1m"}, -1121),
        ({"method": "get_klines", "symbol": "BTCUSDT", "interval": "7m"}, -1120),
        ({"method": "get_klines", "symbol": "BTCUSDT", "interval": "1m", "limit": 1001}, -1130),
        ({"method": "get_historical_trades", "symbol": "BTCUSDT", "fromId": "abc"}, -1100),
        ({"method": "get_aggregate_trades", "symbol": "XRPETH", "fromId": 1, "startTime": 1}, -1128),
        ({"method": "get_aggregate_trades", "symbol": "XRPETH", "startTime": 0, "endTime": 3_600_001}, -1127),
        ({"method": "get_order_book", "symbol": ""}, -1102),
    ],
)
async def test_bad_parameters_get_binance_error_codes(call: dict, code: int) -> None:
    arguments = dict(call)
    method = arguments.pop("method")
    async with running() as (_, client):
        with pytest.raises(BinanceAPIException) as refused:
            await getattr(client, method)(**arguments)
    assert (refused.value.status_code, refused.value.code) == (400, code)
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"]
