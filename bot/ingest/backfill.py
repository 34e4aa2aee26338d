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


async def _fetch_by_id(
    gateway: RestGateway, clock: Clock, symbol: str, first_id: int, last_id: int,
    method: str, record_type: type, identify, build, what: str,
) -> list:
    """Pages an id-addressed endpoint (`fromId`) through [first_id, last_id]."""
    events: list = []
    next_id = first_id
    while next_id <= last_id:
        page = await gateway.call(method, symbol=symbol, fromId=next_id, limit=PAGE_LIMIT)
        records = _parse(page, list[record_type], symbol, what)
        ts_init = clock.now_ns()
        for record in records:
            if identify(record) > last_id:
                break
            if identify(record) >= next_id:
                events.append(build(record, ts_init))
        if not records or identify(records[-1]) < next_id:
            raise RestError(f"{symbol}: {what} from id {next_id} are not available over REST")
        next_id = identify(records[-1]) + 1
    return events


async def fetch_trades(gateway: RestGateway, clock: Clock, symbol: str, first_id: int, last_id: int) -> list[Trade]:
    def build(record: _RestTrade, ts_init: int) -> Trade:
        return Trade(
            symbol=symbol, ts_event=record.time * MILLISECONDS, ts_init=ts_init, trade_id=record.id,
            price=record.price, quantity=record.qty, buyer_is_maker=record.isBuyerMaker,
            ts_trade=record.time * MILLISECONDS,
        )

    return await _fetch_by_id(gateway, clock, symbol, first_id, last_id, "get_historical_trades", _RestTrade,
                              lambda record: record.id, build, "historicalTrades")


async def fetch_agg_trades(gateway: RestGateway, clock: Clock, symbol: str, first_id: int, last_id: int) -> list[AggTrade]:
    def build(record: _RestAggTrade, ts_init: int) -> AggTrade:
        return AggTrade(
            symbol=symbol, ts_event=record.T * MILLISECONDS, ts_init=ts_init, agg_trade_id=record.a,
            price=record.p, quantity=record.q, first_trade_id=record.f, last_trade_id=record.l,
            buyer_is_maker=record.m, ts_trade=record.T * MILLISECONDS,
        )

    return await _fetch_by_id(gateway, clock, symbol, first_id, last_id, "get_aggregate_trades", _RestAggTrade,
                              lambda record: record.a, build, "aggTrades")


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


class _RestKline(msgspec.Struct, array_like=True):
    """One row of /api/v3/klines. Prices are strings there; a number would have passed through a
    float on the way, so it is refused rather than silently made inexact."""

    open_time: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    close_time: int
    # Binance always fills these; the replay exchange sends null where its klines file had no
    # such column, and null stays None (unknown), never 0.
    quote_volume: str | None
    trade_count: int | None
    taker_buy_base_volume: str | None
    taker_buy_quote_volume: str | None
    ignore: object = None


def _kline_from_row(symbol: str, interval: str, row: list, ts_init: int) -> Kline:
    try:
        bar = msgspec.convert(row, _RestKline, strict=True)
        return Kline(
            symbol=symbol, ts_event=(bar.close_time + 1) * MILLISECONDS, ts_init=ts_init, interval=interval,
            open_time=bar.open_time * MILLISECONDS, close_time=bar.close_time * MILLISECONDS,
            open=Decimal(bar.open), high=Decimal(bar.high), low=Decimal(bar.low), close=Decimal(bar.close),
            volume=Decimal(bar.volume), quote_volume=_optional_decimal(bar.quote_volume),
            trade_count=bar.trade_count, taker_buy_base_volume=_optional_decimal(bar.taker_buy_base_volume),
            taker_buy_quote_volume=_optional_decimal(bar.taker_buy_quote_volume),
            first_trade_id=-1, last_trade_id=-1, is_closed=True,
        )
    except (msgspec.ValidationError, ArithmeticError) as error:  # decimal.InvalidOperation is an ArithmeticError
        raise RestError(f"{symbol}: malformed klines answer: {error} in {row!r}") from error


def _optional_decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


async def fetch_depth_snapshot(gateway: RestGateway, symbol: str, limit: int) -> DepthSnapshot:
    body = await gateway.call("get_order_book", symbol=symbol, limit=limit)
    snapshot = _parse(body, _RestDepth, symbol, "depth")
    return DepthSnapshot(snapshot.lastUpdateId, snapshot.bids, snapshot.asks)
