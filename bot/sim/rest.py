"""The REST half of the replay exchange: Binance Spot's public market-data endpoints under /api/v3,
with request-weight accounting, plus the /sim control endpoints for faults and counters.

Weights follow Binance's published table (ping 1, time 1, exchangeInfo 20, depth 5/25/50/250 by
limit, trades 25, historicalTrades 25, aggTrades 4, klines 2, ticker/24hr 2 to 80, see
bot.sim.ticker_24hr). Every /api response carries the minute's used weight; past the limit the
answer is HTTP 429 with Retry-After and code -1003.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import structlog
from aiohttp import web

from bot.clock import Clock
from bot.sim.api_error import ApiError
from bot.sim.counters import ExchangeCounters
from bot.sim.market_data import AggTradeHistory, KlineHistory, OrderBookReplay, TradeHistory
from bot.sim.settings import ReplaySettings
from bot.sim.source import KLINE_INTERVALS
from bot.sim.ticker_24hr import Ticker24hrTable, ticker_24hr_weight
from bot.sim.timeline import Timeline

log = structlog.get_logger(__name__)

_NANOS_PER_MINUTE = 60_000_000_000
_ONE_HOUR_MS = 3_600_000
_FIXED_WEIGHTS = {
    "/api/v3/ping": 1,
    "/api/v3/time": 1,
    "/api/v3/exchangeInfo": 20,
    "/api/v3/trades": 25,
    "/api/v3/historicalTrades": 25,
    "/api/v3/aggTrades": 4,
    "/api/v3/klines": 2,
}


def depth_weight(limit: int) -> int:
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), status=status, content_type="application/json")


class RestApi:
    def __init__(
        self,
        settings: ReplaySettings,
        timeline: Timeline,
        cursor_position: Callable[[], int],
        counters: ExchangeCounters,
        clock: Clock,
        control: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
        status: Callable[[], dict[str, Any]],
    ) -> None:
        self.settings = settings
        self.timeline = timeline
        self._position = cursor_position
        self.counters = counters
        self.clock = clock
        self._control = control
        self._status = status
        market = timeline.market
        self._trades = {symbol: TradeHistory(trades) for symbol, trades in market.trades.items()}
        self._aggs = {symbol: AggTradeHistory(aggs) for symbol, aggs in market.agg_trades.items()}
        self._klines = {key: KlineHistory(bars) for key, bars in market.klines.items()}
        self._books = {
            symbol: OrderBookReplay(snapshots, market.depth_diffs.get(symbol, []))
            for symbol, snapshots in market.depth_snapshots.items()
        }
        self._exchange_info = market.exchange_info_parsed
        self._known_symbols = market.recorded_symbols()
        if self._exchange_info is not None:
            self._known_symbols |= {item["symbol"] for item in self._exchange_info["symbols"]}
        self._tickers: Ticker24hrTable | None = None
        if market.ticker_24hr is not None and market.ticker_24hr_parsed is not None:
            self._tickers = Ticker24hrTable(market.ticker_24hr, market.ticker_24hr_parsed, self._known_symbols)
            self._known_symbols |= self._tickers.symbols
        self._weight_minute = -1
        self._weight_used = 0
        self._runner: web.AppRunner | None = None
        self._port = 0

    async def start(self) -> None:
        app = web.Application(middlewares=[self._accounting])
        app.router.add_get("/api/v3/ping", self._ping)
        app.router.add_get("/api/v3/time", self._time)
        app.router.add_get("/api/v3/exchangeInfo", self._exchange_info_handler)
        app.router.add_get("/api/v3/depth", self._depth)
        app.router.add_get("/api/v3/trades", self._recent_trades)
        app.router.add_get("/api/v3/historicalTrades", self._historical_trades)
        app.router.add_get("/api/v3/aggTrades", self._agg_trades)
        app.router.add_get("/api/v3/klines", self._klines_handler)
        app.router.add_get("/api/v3/ticker/24hr", self._ticker_24hr_handler)
        app.router.add_post("/sim/faults", self._faults)
        app.router.add_get("/sim/counters", self._counters)
        app.router.add_get("/sim/status", self._status_handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        # Bind the socket here so port 0 (a free port) can be read back without private attributes.
        listener = socket.socket(socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.settings.host, self.settings.rest_port))
        self._port = listener.getsockname()[1]
        await web.SockSite(self._runner, listener).start()

    @property
    def port(self) -> int:
        return self._port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- weight accounting ----------------------------------------------------------------------

    @web.middleware
    async def _accounting(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        self.counters.rest_requests_by_path[request.path] += 1
        used = self._charge(self._weight_of(request))
        headers = {"X-MBX-USED-WEIGHT-1M": str(used), "X-MBX-USED-WEIGHT": str(used)}
        if used > self.settings.weight_limit_per_minute:
            self.counters.rest_rate_limited += 1
            log.warning("sim.rest.rate_limited", path=request.path, used_weight=used)
            now_ns = self.clock.now_ns()
            retry_after = max(1, math.ceil(((now_ns // _NANOS_PER_MINUTE + 1) * _NANOS_PER_MINUTE - now_ns) / 1e9))
            response: web.StreamResponse = _json(
                {
                    "code": -1003,
                    "msg": f"Too much request weight used; current limit is "
                    f"{self.settings.weight_limit_per_minute} request weight per 1 MINUTE. "
                    "Please use WebSocket Streams for live updates to avoid polling the API.",
                },
                status=429,
            )
            headers["Retry-After"] = str(retry_after)
        else:
            try:
                response = await handler(request)
            except ApiError as error:
                self.counters.rest_errors += 1
                response = _json({"code": error.code, "msg": error.message}, status=error.status)
        response.headers.update(headers)
        return response

    def _weight_of(self, request: web.Request) -> int:
        if request.path == "/api/v3/depth":
            try:
                return depth_weight(int(request.query.get("limit", "100")))
            except ValueError:
                return 5
        if request.path == "/api/v3/ticker/24hr":
            return ticker_24hr_weight(request.query)
        return _FIXED_WEIGHTS.get(request.path, 1)

    def _charge(self, weight: int) -> int:
        # Binance's weight window is the calendar minute; rejected requests still count.
        minute = self.clock.now_ns() // _NANOS_PER_MINUTE
        if minute != self._weight_minute:
            self._weight_minute = minute
            self._weight_used = 0
        self._weight_used += weight
        return self._weight_used

    # -- parameters -----------------------------------------------------------------------------

    def _symbol(self, request: web.Request) -> str:
        symbol = request.query.get("symbol", "").upper()
        if not symbol:
            raise ApiError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        if symbol not in self._known_symbols:
            raise ApiError(-1121, "Invalid symbol.")
        return symbol

    @staticmethod
    def _integer(request: web.Request, name: str, default: int | None = None) -> int | None:
        text = request.query.get(name)
        if text is None or text == "":
            return default
        if not text.lstrip("-").isdigit():
            raise ApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")
        return int(text)

    def _limit(self, request: web.Request, default: int, maximum: int) -> int:
        limit = self._integer(request, "limit", default)
        assert limit is not None
        if not 1 <= limit <= maximum:
            raise ApiError(-1130, f"Data sent for parameter 'limit' is not valid (1..{maximum}).")
        return limit

    # -- endpoints ------------------------------------------------------------------------------

    async def _ping(self, request: web.Request) -> web.Response:
        return _json({})

    async def _time(self, request: web.Request) -> web.Response:
        return _json({"serverTime": self.timeline.server_time_ms(self._position())})

    async def _exchange_info_handler(self, request: web.Request) -> web.Response:
        recorded = self.timeline.market.exchange_info
        if self._exchange_info is None or recorded is None:
            raise ApiError(-1000, "replay exchange: no exchangeInfo recording was loaded", status=503)
        wanted: list[str] | None = None
        if "symbol" in request.query:
            wanted = [request.query["symbol"].upper()]
        elif "symbols" in request.query:
            try:
                wanted = [str(name).upper() for name in msgspec.json.decode(request.query["symbols"])]
            except (msgspec.DecodeError, TypeError):
                raise ApiError(-1100, "Illegal characters found in parameter 'symbols'.") from None
        if wanted is None:
            return web.Response(body=recorded, content_type="application/json")  # the recorded bytes
        by_name = {item["symbol"]: item for item in self._exchange_info["symbols"]}
        missing = [name for name in wanted if name not in by_name]
        if missing:
            raise ApiError(-1121, "Invalid symbol.")
        return _json({**self._exchange_info, "symbols": [by_name[name] for name in wanted]})

    async def _depth(self, request: web.Request) -> web.Response:
        symbol = self._symbol(request)
        limit = min(self._limit(request, 100, 100_000), 5000)  # Binance truncates above 5000
        book = self._books.get(symbol)
        if book is None:
            raise ApiError(-1000, f"replay exchange: no recorded order book snapshot for {symbol}")
        return _json(book.depth(limit, self._position()))

    async def _recent_trades(self, request: web.Request) -> web.Response:
        symbol = self._symbol(request)
        limit = self._limit(request, 500, 1000)
        history = self._trades.get(symbol)
        return _json(_trade_rows(history.recent(limit, self._position()) if history else []))

    async def _historical_trades(self, request: web.Request) -> web.Response:
        symbol = self._symbol(request)
        limit = self._limit(request, 500, 1000)
        from_id = self._integer(request, "fromId")
        history = self._trades.get(symbol)
        if history is None:
            return _json([])
        position = self._position()
        trades = history.recent(limit, position) if from_id is None else history.from_id(from_id, limit, position)
        return _json(_trade_rows(trades))

    async def _agg_trades(self, request: web.Request) -> web.Response:
        symbol = self._symbol(request)
        limit = self._limit(request, 500, 1000)
        from_id = self._integer(request, "fromId")
        start_ms = self._integer(request, "startTime")
        end_ms = self._integer(request, "endTime")
        if from_id is not None and (start_ms is not None or end_ms is not None):
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        if start_ms is not None and end_ms is not None and end_ms - start_ms > _ONE_HOUR_MS:
            raise ApiError(-1127, "More than 1 hours between startTime and endTime.")
        history = self._aggs.get(symbol)
        if history is None:
            return _json([])
        position = self._position()
        if from_id is not None:
            aggs = history.from_id(from_id, limit, position)
        else:
            aggs = history.between(start_ms, end_ms, limit, position)
        return _json(
            [
                {"a": agg.agg_id, "p": agg.price, "q": agg.quantity, "f": agg.first_trade_id,
                 "l": agg.last_trade_id, "T": agg.time_ms, "m": agg.is_buyer_maker, "M": agg.is_best_match}
                for agg in aggs
            ]
        )

    async def _klines_handler(self, request: web.Request) -> web.Response:
        symbol = self._symbol(request)
        interval = request.query.get("interval")
        if not interval:
            raise ApiError(-1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed.")
        if interval not in KLINE_INTERVALS:
            raise ApiError(-1120, "Invalid interval.")
        limit = self._limit(request, 500, 1000)
        history = self._klines.get((symbol, interval))
        if history is None:
            return _json([])
        bars = history.query(
            self._integer(request, "startTime"), self._integer(request, "endTime"), limit, self._position()
        )
        return _json(
            [
                [bar.open_time_ms, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.close_time_ms,
                 bar.quote_volume, bar.trade_count, bar.taker_buy_base, bar.taker_buy_quote, bar.ignore]
                for bar in bars
            ]
        )

    async def _ticker_24hr_handler(self, request: web.Request) -> web.Response:
        if self._tickers is None:
            raise ApiError(-1000, "replay exchange: no 24hr ticker recording was loaded", status=503)
        answer = self._tickers.answer(request.query)
        if isinstance(answer, bytes):
            return web.Response(body=answer, content_type="application/json")  # the recorded bytes
        return _json(answer)

    # -- control --------------------------------------------------------------------------------

    async def _faults(self, request: web.Request) -> web.Response:
        try:
            body = await request.json(loads=msgspec.json.decode)
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object with a 'fault' key")
            return _json(await self._control(body))
        except (ValueError, TypeError, msgspec.DecodeError) as error:
            return _json({"error": str(error)}, status=400)

    async def _counters(self, request: web.Request) -> web.Response:
        return _json(self.counters.as_dict())

    async def _status_handler(self, request: web.Request) -> web.Response:
        return _json(self._status())


def _trade_rows(trades: list) -> list[dict[str, Any]]:
    return [
        {"id": trade.trade_id, "price": trade.price, "qty": trade.quantity,
         "quoteQty": trade.rest_quote_quantity(), "time": trade.time_ms,
         "isBuyerMaker": trade.is_buyer_maker, "isBestMatch": trade.is_best_match}
        for trade in trades
    ]
