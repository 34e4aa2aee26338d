"""The read-only JSON API under /api/v1 (described in bot.http.openapi), over TradingQueries.

Query parameters are checked strictly (digits only for `limit`, a known status, no unknown or
repeated parameter): a bad request is a 400 naming the parameter, never a 500. An unreachable
Redis is a 503, so a monitoring client can tell "try again" from "fix your request".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from redis.exceptions import RedisError

from bot.http.openapi import API_PREFIX
from bot.http.queries import MAXIMUM_LIMIT, ORDER_STATUSES, TradingQueries

log = structlog.get_logger(__name__)


class BadParameter(Exception):
    pass


def error_response(status: int, error: str, detail: str) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status)


def _parameters(request: web.Request, allowed: tuple[str, ...]) -> dict[str, str]:
    query = request.query
    for name in query:
        if name not in allowed:
            expected = ", ".join(allowed) if allowed else "none"
            raise BadParameter(f"unknown query parameter {name!r} (this endpoint takes: {expected})")
        if len(query.getall(name)) > 1:
            raise BadParameter(f"query parameter {name!r} given more than once")
    return dict(query)


def _limit(parameters: dict[str, str], default: int) -> int:
    text = parameters.get("limit")
    if text is None:
        return default
    # Digits only: int() would also take " 5", "+5", "5_0" and "٥" (an Arabic-Indic five).
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAXIMUM_LIMIT:
        raise BadParameter(f"limit must be a whole number from 1 to {MAXIMUM_LIMIT}, got {text[:40]!r}")
    return int(text)


def _status(parameters: dict[str, str]) -> str | None:
    status = parameters.get("status")
    if status is not None and status not in ORDER_STATUSES:
        raise BadParameter(f"status must be one of {', '.join(ORDER_STATUSES)}, got {status[:40]!r}")
    return status


Query = Callable[[dict[str, str]], Awaitable[Any]]


def _route(key: str, allowed: tuple[str, ...], query: Query) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        try:
            result = await query(_parameters(request, allowed))
        except BadParameter as error:
            return error_response(400, "bad_request", str(error))
        except (RedisError, OSError) as error:
            log.warning("API query failed: Redis unavailable", path=request.path, error=repr(error))
            return error_response(503, "redis_unavailable", "Redis did not answer; try again")
        return web.json_response(result if key == "" else {key: result})

    return handle


def add_api_routes(application: web.Application, queries: TradingQueries) -> None:
    routes = {
        "status": ("", (), lambda p: queries.status()),
        "positions": ("positions", (), lambda p: queries.positions()),
        "orders": ("orders", ("status", "limit"), lambda p: queries.orders(_status(p), _limit(p, 100))),
        "decisions": ("decisions", ("limit",), lambda p: queries.decisions(_limit(p, 100))),
        "guards": ("guards", (), lambda p: queries.guards()),
        "scanner": ("", ("limit",), lambda p: queries.scanner(_limit(p, 50))),
        "models": ("models", (), lambda p: queries.models()),
        "alerts": ("alerts", ("limit",), lambda p: queries.alerts(_limit(p, 100))),
    }
    for name, (key, allowed, query) in routes.items():
        application.router.add_get(f"{API_PREFIX}/{name}", _route(key, allowed, query))
