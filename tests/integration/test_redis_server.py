"""The embedded redis-server: real process, real AOF, real lock."""

from __future__ import annotations

import asyncio
import os
import re
import socket
from pathlib import Path

import pytest
import redis
import redis.asyncio
from helpers import free_port

from bot.bus.redis_server import (
    EmbeddedRedis,
    EmbeddedRedisError,
    find_redis_server,
    redis_server_version,
)


def test_binary_is_found_and_reports_its_version() -> None:
    executable = find_redis_server()
    assert executable.is_file() and os.access(executable, os.X_OK)
    assert re.fullmatch(r"\d+\.\d+\.\d+", redis_server_version(executable))


def test_data_survives_a_clean_restart(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as server:
        assert server.url.startswith("redis://127.0.0.1:")
        with redis.Redis.from_url(server.url) as client:
            assert client.config_get("appendonly") == {"appendonly": "yes"}
            assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
            client.set(b"tradebot:probe", b"\x00binary\xff")
            client.xadd(b"tradebot:stream", {b"price": b"64000.01"})
    # Redis 6 writes appendonly.aof, Redis 7 a directory appendonlydir/ of several files.
    aof_bytes = sum(
        path.stat().st_size
        for path in (tmp_path / "redis").glob("appendonly*/**/*")
        if path.is_file()
    ) + sum(
        path.stat().st_size for path in (tmp_path / "redis").glob("appendonly*") if path.is_file()
    )
    assert aof_bytes > 0
    assert not server.running

    with EmbeddedRedis(tmp_path) as restarted, redis.Redis.from_url(restarted.url) as client:
        assert client.get(b"tradebot:probe") == b"\x00binary\xff"
        assert client.xlen(b"tradebot:stream") == 1


def test_second_server_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as first:
        with pytest.raises(
            EmbeddedRedisError, match=r"already used by another embedded redis-server .*corrupt"
        ):
            EmbeddedRedis(tmp_path).start()
        assert first.running  # the refused attempt did not disturb the running one
    with EmbeddedRedis(tmp_path) as again:  # the lock goes away with the server
        assert again.running


def test_given_port_is_used(tmp_path: Path) -> None:
    port = free_port()
    with EmbeddedRedis(tmp_path, port=port) as server:
        assert server.url == f"redis://127.0.0.1:{port}/0"


def test_port_taken_fails_with_the_log_tail(tmp_path: Path) -> None:
    with socket.socket() as occupier:
        occupier.bind(("127.0.0.1", 0))
        occupier.listen()
        port = occupier.getsockname()[1]
        server = EmbeddedRedis(tmp_path, port=port)
        with pytest.raises(
            EmbeddedRedisError,
            match=r"exited with code \d+ during start-up(.|\n)*Address already in use",
        ):
            server.start()
    with EmbeddedRedis(tmp_path):  # and the failed attempt left the directory unlocked
        pass


def test_stop_is_idempotent_and_url_needs_a_running_server(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path).start()
    server.stop()
    server.stop()
    with pytest.raises(EmbeddedRedisError, match="not running"):
        _ = server.url


async def test_usable_from_async_code(tmp_path: Path) -> None:
    async with EmbeddedRedis(tmp_path) as server:
        client = redis.asyncio.Redis.from_url(server.url)
        try:
            assert await client.ping()
        finally:
            await client.aclose()
    await asyncio.sleep(0)


async def test_fixture_client_is_clean_binary_and_uses_hiredis(
    redis_client: redis.asyncio.Redis,
) -> None:
    assert await redis_client.dbsize() == 0  # emptied before every test
    await redis_client.set(b"key", b"\xff\x00")
    assert await redis_client.get(b"key") == b"\xff\x00"  # bytes back: decode_responses=False
    connection = await redis_client.connection_pool.get_connection()
    try:
        assert "Hiredis" in type(connection._parser).__name__
    finally:
        await redis_client.connection_pool.release(connection)


def test_fixture_database_starts_empty_again(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0
        client.set(b"left-behind", b"1")
