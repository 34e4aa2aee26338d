"""Binance REST through python-binance's AsyncClient, with Binance's weight and ban rules honoured.

- Every response carries `X-MBX-USED-WEIGHT-1M`, the weight this IP used in the current minute.
  Before it reaches the limit the gateway waits for the next minute instead of being refused.
- HTTP 429 (too many requests) and 418 (IP banned for ignoring 429s) carry `Retry-After` seconds:
  the gateway waits exactly that long before trying again; hammering on would extend a ban.
- Timeouts, connection errors and 5xx answers are retried with jittered backoff; a 4xx answer
  (bad symbol, bad parameter) is the caller's mistake and is raised at once.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import aiohttp
import structlog
from binance import AsyncClient
from binance.exceptions import BinanceAPIException, BinanceRequestException

from bot.backoff import Backoff
from bot.clock import Clock

log = structlog.get_logger(__name__)

_MINUTE_NS = 60_000_000_000


def point_client_at(client: AsyncClient, rest_base_url: str) -> AsyncClient:
    """Sends a python-binance client's spot REST calls to `rest_base_url` (Binance, the testnet or
    the replay exchange). python-binance builds every spot URL as `API_URL + "/v3/" + path` with
    API_URL fixed in its constructor, so that one attribute is all it takes; build the client
    directly, not with `AsyncClient.create()`, which pings Binance's own host first."""
    if client.testnet or getattr(client, "demo", False):
        raise ValueError("a testnet/demo client ignores API_URL; build it with testnet=False, demo=False")
    client.API_URL = rest_base_url.rstrip("/") + "/api"
    return client


class RestError(RuntimeError):
    """A REST call that failed for good (a fatal answer, or retries exhausted)."""


class RestGateway:
    def __init__(
        self,
        base_url: str,
        clock: Clock,
        timeout_seconds: float = 10.0,
        weight_limit_per_minute: int = 6000,
        weight_headroom: float = 0.9,
        max_attempts: int = 6,
        max_retry_after_seconds: float = 120.0,
        backoff: Backoff | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_weight: Callable[[int], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._clock = clock
        self._timeout_seconds = timeout_seconds
        self._weight_budget = int(weight_limit_per_minute * weight_headroom)
        self._max_attempts = max_attempts
        self._max_retry_after_seconds = max_retry_after_seconds
        self._backoff = backoff or Backoff(initial_seconds=0.5, maximum_seconds=20.0)
        self._api_key = api_key
        self._api_secret = api_secret
        self._sleep = sleep
        self._on_weight = on_weight
        self._client: AsyncClient | None = None
        self.used_weight = 0
        self._weight_minute = -1  # the local minute `used_weight` was reported in
        self.retry_after_waits = 0

    async def start(self) -> None:
        self._client = point_client_at(AsyncClient(
            api_key=self._api_key,
            api_secret=self._api_secret,
            requests_params={"timeout": aiohttp.ClientTimeout(total=self._timeout_seconds)},
        ), self.base_url)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close_connection()
            self._client = None

    async def __aenter__(self) -> "RestGateway":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def call(self, method: str, **params: Any) -> Any:
        """Calls an AsyncClient method by name, e.g. call("get_aggregate_trades", symbol=..., fromId=...)."""
        if self._client is None:
            raise RestError("the REST gateway is not started")
        bound = getattr(self._client, method)
        for attempt in range(1, self._max_attempts + 1):
            await self._wait_for_weight()
            try:
                result = await asyncio.wait_for(bound(**params), self._timeout_seconds)
            except BinanceAPIException as error:
                self._note_weight(error.response)
                if error.status_code in (418, 429):
                    await self._wait_retry_after(error, method)
                    continue
                if error.status_code >= 500:
                    await self._retry_later(attempt, method, f"HTTP {error.status_code}")
                    continue
                raise RestError(f"{method} {params}: HTTP {error.status_code} code {error.code}: {error.message}") from error
            except (aiohttp.ClientError, asyncio.TimeoutError, BinanceRequestException, OSError) as error:
                await self._retry_later(attempt, method, f"{type(error).__name__}: {error}")
                continue
            self._note_weight(self._client.response)
            return result
        raise RestError(f"{method} {params}: gave up after {self._max_attempts} attempts")

    def _note_weight(self, response: object) -> None:
        headers = getattr(response, "headers", None)
        if not headers:
            return
        value = headers.get("X-MBX-USED-WEIGHT-1M") or headers.get("x-mbx-used-weight-1m")
        if value is not None and value.isdigit():
            self.used_weight = int(value)
            self._weight_minute = self._clock.now_ns() // _MINUTE_NS
            if self._on_weight is not None:
                self._on_weight(self.used_weight)

    async def _wait_for_weight(self) -> None:
        now = self._clock.now_ns()
        if self.used_weight < self._weight_budget or now // _MINUTE_NS != self._weight_minute:
            return
        # The budget resets with the exchange's minute; wait for the next one rather than be refused.
        seconds = ((now // _MINUTE_NS + 1) * _MINUTE_NS - now) / 1e9
        log.warning("REST weight budget reached, waiting for the next minute", used_weight=self.used_weight, wait_seconds=round(seconds, 3))
        await self._sleep(seconds)
        self.used_weight = 0

    async def _wait_retry_after(self, error: BinanceAPIException, method: str) -> None:
        headers = getattr(error.response, "headers", {}) or {}
        raw = headers.get("Retry-After", "")
        seconds = float(raw) if raw.replace(".", "", 1).isdigit() else 1.0
        if seconds > self._max_retry_after_seconds:
            # A ban (418) can last hours: waiting it out would hold everything queued behind this
            # call. Fail instead; the caller records the hole and goes on.
            raise RestError(f"{method}: the exchange asks to wait {seconds:g} s (HTTP {error.status_code}), over {self._max_retry_after_seconds:g} s")
        self.retry_after_waits += 1
        log.warning("REST rate limited by the exchange, honouring Retry-After", method=method, status=error.status_code, retry_after_seconds=seconds)
        await self._sleep(seconds)
        # The exchange said when its window reopens; the count it reported belongs to the window
        # that closed. Keeping it would add a wait for the end of our own minute, which lags the
        # exchange's whenever the local clock does.
        self.used_weight = 0

    async def _retry_later(self, attempt: int, method: str, reason: str) -> None:
        if attempt >= self._max_attempts:
            raise RestError(f"{method}: gave up after {attempt} attempts: {reason}")
        delay = self._backoff.delay(attempt)
        log.warning("REST call failed, retrying", method=method, reason=reason, attempt=attempt, retry_in_seconds=round(delay, 3))
        await self._sleep(delay)
