"""Fetching lost market data again over REST, page by page, as domain events.

Each function returns the events of an inclusive range in exchange order. REST records carry no
event time of their own, so `ts_event` is the trade time (or the bar's close time) and `ts_init` is
when the page arrived.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypeVar

import msgspec

from bot.clock import Clock
from bot.domain.events import MILLISECONDS, AggTrade, Kline, PriceLevel, Trade
from bot.ingest.rest import RestGateway, RestError

PAGE_LIMIT = 1000

_Parsed = TypeVar("_Parsed")


class _RestTrade(msgspec.Struct):
    id: int
    price: Decimal
    qty: Decimal
    time: int
    isBuyerMaker: bool


class _RestAggTrade(msgspec.Struct):
    a: int
    p: Decimal
    q: Decimal
    f: int
    l: int  # noqa: E741 - Binance's name
    T: int
    m: bool


class _RestDepth(msgspec.Struct):
    lastUpdateId: int
    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]


class DepthSnapshot(msgspec.Struct, frozen=True):
    last_update_id: int
    bids: list[PriceLevel]
    asks: list[PriceLevel]


async def fetch_trades(gateway: RestGateway, clock: Clock, symbol: str, first_id: int, last_id: int) -> list[Trade]:
    events: list[Trade] = []
    next_id = first_id
    while next_id <= last_id:
        page = await gateway.call("get_historical_trades", symbol=symbol, fromId=next_id, limit=PAGE_LIMIT)
        records = _parse(page, list[_RestTrade], symbol, "historicalTrades")
        ts_init = clock.now_ns()
        for record in records:
            if record.id > last_id:
                break
            if record.id >= next_id:
                events.append(Trade(
                    symbol=symbol, ts_event=record.time * MILLISECONDS, ts_init=ts_init, trade_id=record.id,
                    price=record.price, quantity=record.qty, buyer_is_maker=record.isBuyerMaker,
                    ts_trade=record.time * MILLISECONDS,
                ))
        if not records or records[-1].id < next_id:
            raise RestError(f"{symbol}: trades from id {next_id} are not available over REST")
        next_id = records[-1].id + 1
    return events


async def fetch_agg_trades(gateway: RestGateway, clock: Clock, symbol: str, first_id: int, last_id: int) -> list[AggTrade]:
    events: list[AggTrade] = []
    next_id = first_id
    while next_id <= last_id:
        page = await gateway.call("get_aggregate_trades", symbol=symbol, fromId=next_id, limit=PAGE_LIMIT)
        records = _parse(page, list[_RestAggTrade], symbol, "aggTrades")
        ts_init = clock.now_ns()
        for record in records:
            if record.a > last_id:
                break
            if record.a >= next_id:
                events.append(AggTrade(
                    symbol=symbol, ts_event=record.T * MILLISECONDS, ts_init=ts_init, agg_trade_id=record.a,
                    price=record.p, quantity=record.q, first_trade_id=record.f, last_trade_id=record.l,
                    buyer_is_maker=record.m, ts_trade=record.T * MILLISECONDS,
                ))
        if not records or records[-1].a < next_id:
            raise RestError(f"{symbol}: aggregate trades from id {next_id} are not available over REST")
        next_id = records[-1].a + 1
    return events


async def fetch_klines(
    gateway: RestGateway, clock: Clock, symbol: str, interval: str, first_open_ns: int, last_open_ns: int
) -> list[Kline]:
    """Closed klines whose open time lies in [first_open_ns, last_open_ns]."""
    events: list[Kline] = []
    start_ms = first_open_ns // MILLISECONDS
    end_ms = last_open_ns // MILLISECONDS
    while start_ms <= end_ms:
        rows = await gateway.call("get_klines", symbol=symbol, interval=interval, startTime=start_ms, endTime=end_ms, limit=PAGE_LIMIT)
        ts_init = clock.now_ns()
        for row in rows:
            events.append(_kline_from_row(symbol, interval, row, ts_init))
        if not rows:
            break
        start_ms = int(rows[-1][0]) + 1
    return events


def _parse(answer: object, shape: type[_Parsed], symbol: str, endpoint: str) -> _Parsed:
    # An answer that does not parse is a failed request like any other, not a crash of the caller.
    try:
        return msgspec.convert(answer, shape)
    except msgspec.ValidationError as error:
        raise RestError(f"{symbol}: malformed {endpoint} answer: {error}") from error


def _kline_from_row(symbol: str, interval: str, row: list, ts_init: int) -> Kline:
    try:
        return _kline_from_values(symbol, interval, row, ts_init)
    except (TypeError, ValueError, ArithmeticError) as error:  # decimal.InvalidOperation is an ArithmeticError
        raise RestError(f"{symbol}: malformed klines answer: {error} in {row!r}") from error


def _kline_from_values(symbol: str, interval: str, row: list, ts_init: int) -> Kline:
    open_time, open_, high, low, close, volume, close_time, quote_volume, count, taker_base, taker_quote = row[:11]
    return Kline(
        symbol=symbol, ts_event=(int(close_time) + 1) * MILLISECONDS, ts_init=ts_init, interval=interval,
        open_time=int(open_time) * MILLISECONDS, close_time=int(close_time) * MILLISECONDS,
        open=Decimal(open_), high=Decimal(high), low=Decimal(low), close=Decimal(close),
        volume=Decimal(volume), quote_volume=Decimal(quote_volume), trade_count=int(count),
        taker_buy_base_volume=Decimal(taker_base), taker_buy_quote_volume=Decimal(taker_quote),
        first_trade_id=-1, last_trade_id=-1, is_closed=True,
    )


async def fetch_depth_snapshot(gateway: RestGateway, symbol: str, limit: int) -> DepthSnapshot:
    body = await gateway.call("get_order_book", symbol=symbol, limit=limit)
    snapshot = _parse(body, _RestDepth, symbol, "depth")
    return DepthSnapshot(snapshot.lastUpdateId, snapshot.bids, snapshot.asks)
