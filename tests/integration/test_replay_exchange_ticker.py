"""GET /api/v3/ticker/24hr on the replay exchange, from the bundled real all-symbols answer,
driven through python-binance's AsyncClient like the daemon."""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
from collections.abc import AsyncIterator

import pytest
from binance import AsyncClient
from binance.exceptions import BinanceAPIException

from bot.clock import ManualClock
from bot.sim import RECORDINGS_DIRECTORY, RecordingError, ReplayExchange, ReplaySettings, point_client_at
from bot.sim.timeline import load_timeline

TICKERS = RECORDINGS_DIRECTORY / "spot_ticker_24hr_all_symbols_2020-09-29.json.gz"
EXCHANGE_INFO = RECORDINGS_DIRECTORY / "spot_exchangeInfo_2021-10-12.json.gz"
KLINES = RECORDINGS_DIRECTORY / "spot_BTCUSDT_1m_2020-12-01_2020-12-02.csv"
START_OF_A_MINUTE_NS = 1_700_000_040_000_000_000


@functools.cache
def recorded() -> list[dict]:
    return json.loads(gzip.decompress(TICKERS.read_bytes()))


@contextlib.asynccontextmanager
async def running(*recordings: object) -> AsyncIterator[AsyncClient]:
    settings = ReplaySettings(recordings=recordings, ping_interval_s=None)  # type: ignore[arg-type]
    async with ReplayExchange(settings, clock=ManualClock(START_OF_A_MINUTE_NS)) as exchange:
        client = point_client_at(AsyncClient(api_key=None, api_secret=None), exchange.rest_base_url)
        try:
            yield client
        finally:
            await client.close_connection()


def used_weight(client: AsyncClient) -> int:
    return int(client.response.headers["X-MBX-USED-WEIGHT-1M"])


async def test_all_one_and_a_list_of_symbols_with_binance_weights() -> None:
    rows = recorded()
    by_symbol = {row["symbol"]: row for row in rows}
    async with running(TICKERS, KLINES) as client:
        everything = await client.get_ticker()
        assert everything == rows and len(everything) == 1072
        assert used_weight(client) == 80
        assert await client.get_ticker(symbol="BTCUSDT") == by_symbol["BTCUSDT"]
        assert used_weight(client) == 80 + 2
        # Answered in the order asked; lower case is accepted, as by Binance.
        pair = await client.get_ticker(symbols='["ethusdt","BTCUSDT"]')
        assert pair == [by_symbol["ETHUSDT"], by_symbol["BTCUSDT"]]
        assert used_weight(client) == 84
        names = [row["symbol"] for row in rows]
        assert len(await client.get_ticker(symbols=json.dumps(names[:21], separators=(",", ":")))) == 21
        assert used_weight(client) == 84 + 40
        assert len(await client.get_ticker(symbols=json.dumps(names[:101], separators=(",", ":")))) == 101
        assert used_weight(client) == 124 + 80


@pytest.mark.parametrize(
    ("parameters", "code"),
    [
        ({"symbol": "NOSUCHUSDT"}, -1121),
        ({"symbols": '["BTCUSDT","NOSUCHUSDT"]'}, -1121),
        ({"symbol": "BTCUSDT", "symbols": '["BTCUSDT"]'}, -1128),
        ({"symbols": "BTCUSDT"}, -1100),
        ({"symbols": "[]"}, -1100),
    ],
)
async def test_bad_requests_get_binance_errors(parameters: dict[str, str], code: int) -> None:
    async with running(TICKERS) as client:
        with pytest.raises(BinanceAPIException) as caught:
            await client.get_ticker(**parameters)
        assert (caught.value.status_code, caught.value.code) == (400, code)
        if code == -1121:
            assert caught.value.message == "Invalid symbol."


async def test_a_symbol_known_elsewhere_but_not_recorded_is_not_called_invalid() -> None:
    # 1INCHUSDT is listed in the 2021 exchangeInfo but did not exist in September 2020.
    assert "1INCHUSDT" not in {row["symbol"] for row in recorded()}
    async with running(TICKERS, EXCHANGE_INFO) as client:
        with pytest.raises(BinanceAPIException) as caught:
            await client.get_ticker(symbol="1INCHUSDT")
        assert caught.value.code == -1000 and "no recorded 24hr ticker" in caught.value.message
        assert (await client.get_exchange_info())["symbols"][0]["symbol"] == "ETHBTC"


async def test_without_a_ticker_recording_the_endpoint_says_so() -> None:
    async with running(KLINES) as client:
        with pytest.raises(BinanceAPIException) as caught:
            await client.get_ticker()
        assert (caught.value.status_code, caught.value.code) == (503, -1000)


def test_a_second_ticker_recording_or_a_broken_one_is_refused(tmp_path) -> None:
    with pytest.raises(RecordingError, match="second 24hr ticker recording"):
        load_timeline([TICKERS, TICKERS])
    broken = tmp_path / "tickers.json"
    broken.write_text('[{"symbol": "BTCUSDT"}, {"lastPrice": "1.0"}]')
    with pytest.raises(RecordingError, match="entry 1 .* has no symbol"):
        load_timeline([broken])
