"""The scanner's I/O shell: poll Binance's all-symbols 24 h ticker over REST, scan, write to Redis.

REST goes through `bot.ingest.rest.RestGateway` (python-binance's AsyncClient `get_ticker()`,
pointed at Binance, the testnet or the replay exchange, with weight accounting and retries), so
there is one REST client in the daemon and one budget.

A refresh that fails (REST gave up, an answer with no usable row, Redis refusing the write) is
logged and counted, and leaves the previous scan in Redis untouched: a stale scan that says when
it was made (`ts_scan`) is more useful than none. A scan is written in one MULTI/EXEC
transaction, so a reader never sees half of one. The service is the only writer of its keys.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from bot.backoff import Backoff
from bot.bus.redis_keys import RedisKeys
from bot.clock import Clock
from bot.scanner.encoding import summary_fields, symbol_fields
from bot.scanner.parsing import parse_tickers
from bot.scanner.scan import MarketScan, scan, select_pairs
from bot.scanner.settings import ScannerSettings

log = structlog.get_logger(__name__)


class RestCaller(Protocol):
    """What the service needs of `bot.ingest.rest.RestGateway`."""

    async def call(self, method: str, **params: Any) -> Any: ...


class RefreshError(RuntimeError):
    """An answer that cannot become a scan (no usable row, no pair in the quote asset)."""


@dataclass
class ScannerCounters:
    refreshes: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    rows_rejected: Counter[str] = field(default_factory=Counter)
    last_error: str = ""
    last_success_ns: int = 0


class ScannerService:
    """rest_client: a started RestGateway (or anything with its `call`). redis_client: an
    asyncio redis client. keys_namespace: the daemon's `redis.namespace`. quote_assets: optional
    {symbol: quoteAsset} from exchangeInfo (`bot.scanner.quote_assets_from_exchange_info`)."""

    def __init__(
        self,
        rest_client: RestCaller,
        redis_client: Any,
        keys_namespace: str,
        settings: ScannerSettings,
        clock: Clock,
        *,
        quote_assets: Mapping[str, str] | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rest = rest_client
        self._redis = redis_client
        self.keys = RedisKeys(keys_namespace)
        self.settings = settings
        self._clock = clock
        self._quote_assets = quote_assets
        interval = settings.refresh_interval_seconds
        self._backoff = backoff or Backoff(initial_seconds=interval, maximum_seconds=max(interval, settings.failure_backoff_max_seconds))
        self._sleep = sleep
        self.counters = ScannerCounters()
        self.latest: MarketScan | None = None
        self.pairs: list[str] = []

    async def run(self) -> None:
        """Refresh until cancelled: every refresh interval while healthy; after failures, after a
        jittered backoff that is never shorter than the interval (a failing exchange is not
        polled harder than a healthy one)."""
        if self.latest is not None:  # a scan was just made (e.g. to choose the symbols at start-up)
            await self._sleep(self.settings.refresh_interval_seconds)
        while True:
            succeeded = await self.refresh_once()
            delay = self.settings.refresh_interval_seconds
            if not succeeded:
                delay = max(delay, self._backoff.delay(self.counters.consecutive_failures))
            await self._sleep(delay)

    async def refresh_once(self) -> bool:
        """One fetch, scan and write; True when the new scan is in Redis."""
        attempt_ns = self._clock.now_ns()
        try:
            market, rejected = await self._fetch_and_scan(attempt_ns)
            pairs = select_pairs(market, self.settings.pair_filters)
            await self._write(market, pairs, rejected, attempt_ns)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - any failure must leave the previous scan and go on
            await self._record_failure(attempt_ns, error)
            return False
        self.latest, self.pairs = market, pairs
        self.counters.refreshes += 1
        self.counters.consecutive_failures = 0
        self.counters.last_success_ns = attempt_ns
        log.info(
            "scanner.refreshed",
            pairs_scanned=market.totals.pairs_scanned,
            pairs_selected=len(pairs),
            rows_rejected=sum(rejected.values()),
        )
        return True

    async def _fetch_and_scan(self, ts_init: int) -> tuple[MarketScan, dict[str, int]]:
        answer = await self._rest.call("get_ticker")
        parsed = parse_tickers(answer, ts_init)
        self.counters.rows_rejected.update(parsed.rejected)
        if parsed.rejected:
            log.warning("scanner.rows_rejected", reasons=parsed.rejected)
        if not parsed.tickers:
            raise RefreshError(f"the 24hr ticker answer had no usable row (rejected: {parsed.rejected})")
        market = scan(parsed.tickers, self.settings, self._quote_assets)
        if not market.symbols:
            raise RefreshError(f"no pair quoted in {self.settings.quote_asset} in the 24hr ticker answer")
        return market, parsed.rejected

    async def _write(self, market: MarketScan, pairs: list[str], rejected: dict[str, int], ts_scan: int) -> None:
        keys = self.keys
        previous = {_text(member) for member in await self._redis.zrange(keys.scanner_index(), 0, -1)}
        current = {item.symbol for item in market.symbols}
        async with self._redis.pipeline(transaction=True) as pipe:
            for symbol in sorted(previous - current):  # pairs that left the market
                pipe.delete(keys.scanner_symbol(symbol))
            for item in market.symbols:
                pipe.delete(keys.scanner_symbol(item.symbol))
                pipe.hset(keys.scanner_symbol(item.symbol), mapping=symbol_fields(item, ts_scan))
            pipe.delete(keys.scanner_index())
            pipe.zadd(keys.scanner_index(), {item.symbol: float(item.quote_volume) for item in market.symbols})
            pipe.delete(keys.scanner_pairs())
            if pairs:
                pipe.rpush(keys.scanner_pairs(), *pairs)
            pipe.delete(keys.scanner_summary())
            pipe.hset(keys.scanner_summary(), mapping=summary_fields(market, ts_scan, rejected))
            pipe.hset(keys.scanner_status(), mapping=self._status_fields(ts_scan, success=True))
            await pipe.execute()

    async def _record_failure(self, attempt_ns: int, error: Exception) -> None:
        self.counters.failures += 1
        self.counters.consecutive_failures += 1
        self.counters.last_error = f"{type(error).__name__}: {error}"
        log.warning(
            "scanner.refresh_failed",
            error=self.counters.last_error,
            consecutive_failures=self.counters.consecutive_failures,
        )
        try:
            await self._redis.hset(self.keys.scanner_status(), mapping=self._status_fields(attempt_ns, success=False))
        except Exception as status_error:  # noqa: BLE001 - Redis may be the thing that failed
            log.warning("scanner.status_not_written", error=f"{type(status_error).__name__}: {status_error}")

    def _status_fields(self, attempt_ns: int, success: bool) -> dict[str, str]:
        counters = self.counters
        return {
            "last_attempt_ns": str(attempt_ns),
            "last_success_ns": str(attempt_ns if success else counters.last_success_ns),
            "refreshes": str(counters.refreshes + (1 if success else 0)),
            "failures": str(counters.failures),
            "consecutive_failures": str(0 if success else counters.consecutive_failures),
            "last_error": "" if success else counters.last_error,
            "rows_rejected_total": str(sum(counters.rows_rejected.values())),
        }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
