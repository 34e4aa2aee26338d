"""Fixtures shared by every test suite.

Redis tests run against a real redis-server (never fakeredis): one throwaway server per test
session, started only if some test asks for it, emptied before each test that uses it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio

from bot.bus.redis_server import EmbeddedRedis

# Fixtures for the container-file tests (Dockerfile, compose), shared by unit and integration.
from container_support import compose, compose_project, dockerfile, runtime  # noqa: E402, F401


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a private redis-server shared by the whole session (AOF on, as in production)."""
    with EmbeddedRedis(tmp_path_factory.mktemp("redis-session")) as server:
        yield server.url


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session server's URL, every database emptied first so tests cannot leak state."""
    with redis.Redis.from_url(redis_server) as client:
        client.flushall()
    return redis_server


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """An asyncio client (hiredis parser; bytes in, bytes out), closed after the test."""
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=False)
    try:
        yield client
    finally:
        await client.aclose()
