"""The checks behind /readyz: small named async callables, each answering "ready" or why not.

A check returns None when it passes and a short reason when it does not; raising counts as a
failure with the exception as the reason. /readyz runs them concurrently, each under a time limit,
so a hung dependency makes the daemon not ready instead of hanging the probe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

ReadinessCheck = Callable[[], Awaitable[str | None]]
CHECK_TIMEOUT_SECONDS = 2.0


class StreamHealth(Protocol):
    """What bot.ingest.client.MarketStreamClient tells about its connections."""

    def stale_streams(self) -> set[str]: ...
    def disconnected_shards(self) -> list[int]: ...


async def run_checks(checks: Mapping[str, ReadinessCheck], timeout_seconds: float = CHECK_TIMEOUT_SECONDS) -> dict[str, dict[str, Any]]:
    """{name: {"ok": bool, "detail": str}} for every check, in name order."""
    names = sorted(checks)
    outcomes = await asyncio.gather(*(_one(checks[name], timeout_seconds) for name in names))
    return {name: {"ok": failure is None, "detail": failure or "ok"} for name, failure in zip(names, outcomes)}


async def _one(check: ReadinessCheck, timeout_seconds: float) -> str | None:
    try:
        async with asyncio.timeout(timeout_seconds):
            return await check()
    except TimeoutError:
        return f"no answer within {timeout_seconds:g} s"
    except Exception as error:  # noqa: BLE001 - any failure is "not ready", named, never a 500
        return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def redis_check(client: Any, timeout_seconds: float = 1.0) -> ReadinessCheck:
    """Redis answers PING within `timeout_seconds`."""

    async def redis_reachable() -> str | None:
        async with asyncio.timeout(timeout_seconds):
            await client.ping()
        return None

    return redis_reachable


def started_check(ready: asyncio.Event) -> ReadinessCheck:
    """The daemon finished starting (every component constructed and running)."""

    async def daemon_started() -> str | None:
        return None if ready.is_set() else "still starting"

    return daemon_started


def streams_check(client: Callable[[], StreamHealth | None]) -> ReadinessCheck:
    """Ingest holds a connection open for every shard and no stream has gone quiet.

    `client` is called at check time: the ingest client is built after the HTTP endpoint starts."""

    async def streams_fresh() -> str | None:
        streams = client()
        if streams is None:
            return "ingest not started"
        problems = []
        disconnected = streams.disconnected_shards()
        if disconnected:
            problems.append(f"no open connection for shard(s) {', '.join(map(str, disconnected))}")
        stale = sorted(streams.stale_streams())
        if stale:
            shown = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
            problems.append(f"stale: {shown}")
        return "; ".join(problems) or None

    return streams_fresh


def models_check(expected: Sequence[str], loaded_versions: Callable[[], Mapping[str, str | None]]) -> ReadinessCheck:
    """Every model an ml_signal strategy trades on is loaded (`loaded_versions`: name -> version,
    read at check time)."""

    async def model_loaded() -> str | None:
        versions = loaded_versions()
        missing = [name for name in expected if versions.get(name) is None]
        return f"no model loaded for {', '.join(missing)}" if missing else None

    return model_loaded
