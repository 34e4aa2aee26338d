"""RestGateway (python-binance's AsyncClient underneath) against the replay exchange over loopback.

Time is a ManualClock shared by the exchange's weight window and the gateway, and the gateway's
`sleep` is a fake that records each wait and moves that clock on: nothing here waits a real
minute, and every wait the gateway decides on is asserted exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import functools
import gzip
import random
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from helpers import free_port

from bot.backoff import Backoff
from bot.clock import ManualClock
from bot.ingest.backfill import fetch_agg_trades
from bot.ingest.rest import RestError, RestGateway
from bot.sim import RECORDINGS_DIRECTORY, ReplayExchange, ReplaySettings
from bot.sim.timeline import Timeline, load_timeline

XRPETH_AGG_TRADES = RECORDINGS_DIRECTORY / "spot_XRPETH_aggTrades_2019-10-11_2019-10-13.csv.gz"
START_OF_A_MINUTE_NS = 1_700_000_040_000_000_000
SECOND_NS = 1_000_000_000
AGG_TRADES_WEIGHT = 4  # Binance's (and the exchange's) weight of GET /api/v3/aggTrades


@functools.cache
def shared_timeline() -> Timeline:
    return load_timeline([XRPETH_AGG_TRADES])


@functools.cache
def recorded_agg_trades() -> list[dict[str, str]]:
    with gzip.open(XRPETH_AGG_TRADES, "rt") as file:
        return list(csv.DictReader(file))


class FakeTime:
    """ManualClocks for the exchange and the gateway (the gateway's may run `gateway_lag_ns`
    behind, as a local clock does), and an async sleep that records each wait and moves both on."""

    def __init__(self, start_ns: int, gateway_lag_ns: int = 0) -> None:
        self.clock = ManualClock(start_ns)
        self.gateway_clock = ManualClock(start_ns - gateway_lag_ns) if gateway_lag_ns else self.clock
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        for clock in {id(self.clock): self.clock, id(self.gateway_clock): self.gateway_clock}.values():
            clock.advance(round(seconds * SECOND_NS))
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def exchange_and_gateway(
    time: FakeTime, exchange_limit: int = 6000, **gateway_options: object
) -> AsyncIterator[tuple[ReplayExchange, RestGateway]]:
    settings = ReplaySettings(recordings=(XRPETH_AGG_TRADES,), ping_interval_s=None, weight_limit_per_minute=exchange_limit)
    async with ReplayExchange(settings, clock=time.clock, timeline=shared_timeline()) as exchange:
        # The whole recording becomes visible over REST (the exchange serves nothing from its future).
        exchange.advance_unattended()
        await exchange.wait_finished()
        gateway = RestGateway(exchange.rest_base_url, time.gateway_clock, sleep=time.sleep, **gateway_options)  # type: ignore[arg-type]
        async with gateway:
            yield exchange, gateway


def first_id() -> int:
    return int(recorded_agg_trades()[0]["agg_trade_id"])


async def test_the_used_weight_header_is_read_after_every_call() -> None:
    time = FakeTime(START_OF_A_MINUTE_NS + 5 * SECOND_NS)
    reported: list[int] = []
    async with exchange_and_gateway(time, on_weight=reported.append) as (exchange, gateway):
        for call in range(1, 4):
            page = await gateway.call("get_aggregate_trades", symbol="XRPETH", fromId=first_id(), limit=10)
            assert [agg["a"] for agg in page] == list(range(first_id(), first_id() + 10))
            assert gateway.used_weight == call * AGG_TRADES_WEIGHT
        # A refused call reports the weight too: Binance counts rejected requests.
        with pytest.raises(RestError):
            await gateway.call("get_aggregate_trades", symbol="NOSUCHSYMBOL", limit=10)
        assert gateway.used_weight == 4 * AGG_TRADES_WEIGHT
        # Concurrent calls: responses may come back in any order, the used weight is the highest.
        await asyncio.gather(*(
            gateway.call("get_aggregate_trades", symbol="XRPETH", fromId=first_id(), limit=1) for _ in range(20)
        ))
        assert gateway.used_weight == 24 * AGG_TRADES_WEIGHT
        assert exchange.counters.rest_requests_by_path["/api/v3/aggTrades"] == 24
    assert reported[:4] == [4, 8, 12, 16]
    assert reported[-1] == 24 * AGG_TRADES_WEIGHT
    assert time.sleeps == []


async def test_at_the_budget_the_gateway_waits_for_the_next_minute_instead_of_being_refused() -> None:
    # Limit 40 on both sides; the gateway keeps 10 % headroom: a budget of 36 = nine aggTrades calls.
    time = FakeTime(START_OF_A_MINUTE_NS + 12_250_000_000)  # 12.25 s into a minute
    async with exchange_and_gateway(time, exchange_limit=40, weight_limit_per_minute=40) as (exchange, gateway):
        for call in range(1, 10):
            await gateway.call("get_aggregate_trades", symbol="XRPETH", fromId=first_id(), limit=5)
            assert gateway.used_weight == call * AGG_TRADES_WEIGHT
        assert time.sleeps == []
        page = await gateway.call("get_aggregate_trades", symbol="XRPETH", fromId=first_id() + 7, limit=5)
        assert time.sleeps == [47.75]  # exactly to the start of the next minute
        assert [agg["a"] for agg in page] == list(range(first_id() + 7, first_id() + 12))
        assert gateway.used_weight == AGG_TRADES_WEIGHT  # a new window on the exchange too
        assert exchange.counters.rest_rate_limited == 0
        assert gateway.retry_after_waits == 0


async def test_a_429_is_waited_out_for_exactly_retry_after_then_the_call_succeeds() -> None:
    # The exchange allows 10 per minute; the gateway believes 6000, so the exchange refuses the third call.
    time = FakeTime(START_OF_A_MINUTE_NS + 15_500_000_000)  # 15.5 s into a minute: Retry-After 45
    async with exchange_and_gateway(time, exchange_limit=10) as (exchange, gateway):
        await gateway.call("get_aggregate_trades", symbol="XRPETH", fromId=first_id(), limit=1)
        await gateway.call("get_aggregate_trades", symbol="XRPETH", fromId=first_id(), limit=1)
        page = await gateway.call("get_aggregate_trades", symbol="XRPETH", fromId=first_id() + 3, limit=2)
        assert [agg["a"] for agg in page] == [first_id() + 3, first_id() + 4]
        assert time.sleeps == [45.0]
        assert gateway.retry_after_waits == 1
        assert exchange.counters.rest_rate_limited == 1
        assert exchange.counters.rest_requests_by_path["/api/v3/aggTrades"] == 4  # 2 + refused + retried
        assert gateway.used_weight == AGG_TRADES_WEIGHT


async def test_retry_after_is_trusted_over_a_local_clock_that_lags_the_exchange() -> None:
    """Another process on the same IP used most of the minute; this gateway (same limit, its clock
    2 s behind the exchange's) is refused, waits Retry-After, and goes again at once: it does not
    add a wait for the end of its own, lagging minute on top."""
    time = FakeTime(START_OF_A_MINUTE_NS + 15_500_000_000, gateway_lag_ns=2 * SECOND_NS)
    async with exchange_and_gateway(time, exchange_limit=40, weight_limit_per_minute=40) as (exchange, gateway):
        async with aiohttp.ClientSession() as other_process:
            for _ in range(38):
                async with other_process.get(f"{exchange.rest_base_url}/api/v3/ping") as response:
                    assert response.status == 200
        page = await gateway.call("get_aggregate_trades", symbol="XRPETH", fromId=first_id(), limit=1)
        assert [agg["a"] for agg in page] == [first_id()]
        assert time.sleeps == [45.0]
        assert exchange.counters.rest_rate_limited == 1
        assert gateway.used_weight == AGG_TRADES_WEIGHT


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"symbol": "NOSUCHSYMBOL", "limit": 10}, -1121),  # Invalid symbol.
        ({"symbol": "XRPETH", "limit": 5000}, -1130),  # limit out of range
    ],
)
async def test_a_400_is_raised_at_once_without_retries(params: dict[str, object], code: int) -> None:
    time = FakeTime(START_OF_A_MINUTE_NS)
    async with exchange_and_gateway(time, max_attempts=5) as (exchange, gateway):
        with pytest.raises(RestError, match=f"HTTP 400 code {code}"):
            await gateway.call("get_aggregate_trades", **params)
        assert exchange.counters.rest_requests_by_path["/api/v3/aggTrades"] == 1
        assert exchange.counters.rest_errors == 1
    assert time.sleeps == []


async def test_a_5xx_is_retried_with_backoff_then_raised() -> None:
    # No exchangeInfo recording is loaded: the exchange answers 503 (code -1000) every time.
    time = FakeTime(START_OF_A_MINUTE_NS)
    seed = 11
    async with exchange_and_gateway(
        time, max_attempts=4, backoff=Backoff(0.5, 20.0, random_source=random.Random(seed))
    ) as (exchange, gateway):
        with pytest.raises(RestError, match="gave up after 4 attempts: HTTP 503"):
            await gateway.call("get_exchange_info")
        assert exchange.counters.rest_requests_by_path["/api/v3/exchangeInfo"] == 4
    expected = Backoff(0.5, 20.0, random_source=random.Random(seed))
    assert time.sleeps == [expected.delay(attempt) for attempt in (1, 2, 3)]


async def test_a_closed_port_is_retried_with_backoff_max_attempts_times_then_raised() -> None:
    time = FakeTime(START_OF_A_MINUTE_NS)
    seed = 5
    gateway = RestGateway(
        f"http://127.0.0.1:{free_port()}", time.clock, timeout_seconds=2.0, max_attempts=5,
        backoff=Backoff(0.5, 20.0, random_source=random.Random(seed)), sleep=time.sleep,
    )
    async with gateway:
        with pytest.raises(RestError, match="gave up after 5 attempts: ClientConnectorError"):
            await gateway.call("get_aggregate_trades", symbol="XRPETH", limit=1)
    expected = Backoff(0.5, 20.0, random_source=random.Random(seed))
    assert time.sleeps == [expected.delay(attempt) for attempt in (1, 2, 3, 4)]
    assert all(0 <= delay <= expected.ceiling(attempt) for attempt, delay in enumerate(time.sleeps, start=1))


async def test_a_server_that_never_answers_times_out_and_is_retried_max_attempts_times() -> None:
    requests = 0
    hanging: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        hanging.append(writer)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while await reader.readuntil(b"\r\n\r\n"):  # one HTTP request head, then silence
                requests += 1

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    time = FakeTime(START_OF_A_MINUTE_NS)
    try:
        gateway = RestGateway(f"http://127.0.0.1:{port}", time.clock, timeout_seconds=0.2, max_attempts=3, sleep=time.sleep)
        async with gateway:
            started = asyncio.get_running_loop().time()
            with pytest.raises(RestError, match="gave up after 3 attempts: TimeoutError"):
                await gateway.call("get_aggregate_trades", symbol="XRPETH", limit=1)
            elapsed = asyncio.get_running_loop().time() - started
    finally:
        for writer in hanging:
            writer.close()
        server.close()
        await server.wait_closed()
    assert requests == 3
    assert len(time.sleeps) == 2  # backoff between the attempts, none after the last
    assert 0.55 <= elapsed < 2.0  # three 0.2 s timeouts, not aiohttp's default five minutes


async def test_backfill_pages_through_a_tiny_budget_and_is_never_refused() -> None:
    """fetch_agg_trades over the whole recording (13 pages of 4 weight) with 20 weight a minute."""
    rows = recorded_agg_trades()
    time = FakeTime(START_OF_A_MINUTE_NS + 30 * SECOND_NS)
    async with exchange_and_gateway(time, exchange_limit=20, weight_limit_per_minute=20) as (exchange, gateway):
        events = await fetch_agg_trades(gateway, time.clock, "XRPETH", first_id(), int(rows[-1]["agg_trade_id"]))
        assert exchange.counters.rest_rate_limited == 0
        assert exchange.counters.rest_requests_by_path["/api/v3/aggTrades"] == 13
    assert [(event.agg_trade_id, str(event.price), str(event.quantity)) for event in events] == [
        (int(row["agg_trade_id"]), row["price"], row["quantity"]) for row in rows
    ]
    assert all(event.price == Decimal(row["price"]) for event, row in zip(events, rows, strict=True))
    # Budget 18 (limit 20 less 10 %): five pages a minute (the fifth brings the minute to 20),
    # then a wait to the next minute: 30 s from where the clock started, then a whole minute.
    assert time.sleeps == [30.0, 60.0]
