"""The daemon's HTTP endpoint: liveness, readiness, Prometheus metrics and the read-only API.

One port serves all of it (metrics.host:metrics.port). /healthz, /readyz, /metrics and
/openapi.json are public; everything else needs the API's bearer token (bot.http.auth).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import metadata

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import SecretStr

from bot.http.api import add_api_routes, error_response
from bot.http.auth import TOKEN_VARIABLE, bearer_middleware
from bot.http.openapi import openapi_document
from bot.http.queries import TradingQueries
from bot.http.readiness import ReadinessCheck, run_checks

log = structlog.get_logger(__name__)


class HttpServer:
    def __init__(
        self,
        registry: CollectorRegistry,
        host: str,
        port: int,
        *,
        readiness_checks: Mapping[str, ReadinessCheck] | None = None,
        queries: TradingQueries | None = None,
        api_token: SecretStr | None = None,
    ) -> None:
        """`readiness_checks`: name -> check (bot.http.readiness); none: /readyz answers ready.
        `queries`: serve the API (and /openapi.json) over them; `api_token` is the bearer token it
        requires (None: the API answers 503 until TRADEBOT_API__TOKEN is set)."""
        self._registry = registry
        self._host = host
        self._port = port
        self._checks = dict(readiness_checks or {})
        self._queries = queries
        self._api_token = api_token
        self._runner: web.AppRunner | None = None
        self.port = port

    async def start(self) -> None:
        # Without the API nothing is secret: no token is asked for (and an unknown path is a 404).
        middlewares = [_json_errors] if self._queries is None else [_json_errors, bearer_middleware(self._api_token)]
        application = web.Application(middlewares=middlewares)
        application.router.add_get("/metrics", self._metrics)
        application.router.add_get("/healthz", self._health)
        application.router.add_get("/readyz", self._ready)
        if self._queries is not None:
            application.router.add_get("/openapi.json", self._openapi)
            add_api_routes(application, self._queries)
            if self._api_token is None:
                log.warning(f"the HTTP API has no token and answers 503: set {TOKEN_VARIABLE}")
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self.port = self._runner.addresses[0][1]  # the real port when 0 was asked for

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def _ready(self, _request: web.Request) -> web.Response:
        checks = await run_checks(self._checks)
        ready = all(check["ok"] for check in checks.values())
        if not ready:
            log.info("not ready", failed={name: check["detail"] for name, check in checks.items() if not check["ok"]})
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    async def _openapi(self, _request: web.Request) -> web.Response:
        return web.json_response(openapi_document(_package_version()))


def _package_version() -> str:
    try:
        return metadata.version("tradebot")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


@web.middleware
async def _json_errors(request: web.Request, handler) -> web.StreamResponse:
    """Every error answer is JSON like the API's own: 404, 405 and anything unexpected."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        response = error_response(error.status, error.reason.lower().replace(" ", "_"), error.reason)
        for name in ("Allow",):  # 405 must still say what is allowed
            if name in error.headers:
                response.headers[name] = error.headers[name]
        return response
    except Exception:
        log.exception("HTTP handler failed", path=request.path)
        return error_response(500, "internal_error", "see the daemon's log")
