"""The namespace lease against a real redis-server: one daemon per namespace, a crashed one's
lease runs out by itself, a running one keeps it by renewing, a lost lease is noticed."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from bot.bus.namespace_lease import LeaseLostError, NamespaceLease, NamespaceLockedError
from bot.bus.redis_keys import RedisKeys
from bot.clock import WallClock

KEYS = RedisKeys("lease")
ROLE = "engine"


def lease(client, owner: str, lease_seconds: float = 5.0, renew_seconds: float = 1.0) -> NamespaceLease:
    return NamespaceLease(client, KEYS, ROLE, lease_seconds, renew_seconds, WallClock(), owner=owner)


async def test_a_second_daemon_is_refused_with_the_holder_named(redis_client):
    first = NamespaceLease(redis_client, KEYS, ROLE, 15.0, 5.0, WallClock())
    await first.acquire()
    assert first.owner.startswith(f"{socket.gethostname()}:{os.getpid()}:")
    assert await redis_client.get(KEYS.daemon_lock(ROLE)) == first.owner.encode()

    with pytest.raises(NamespaceLockedError) as refused:
        await lease(redis_client, "otherhost:4242:feed").acquire()
    message = str(refused.value)
    assert "another tradebot daemon runs the engine on Redis namespace 'lease'" in message
    assert f"host {socket.gethostname()}, pid {os.getpid()}, holding it since 20" in message
    runs_out_in = float(message.split("runs out in ")[1].split(" s")[0])
    assert 13.0 < runs_out_in <= 15.0
    assert "redis.namespace" in message
    # The refused daemon wrote nothing: the lease is still the first one's.
    assert await redis_client.get(KEYS.daemon_lock(ROLE)) == first.owner.encode()


async def test_a_released_lease_lets_the_next_daemon_start_at_once(redis_client):
    first = lease(redis_client, "a:1:aa")
    await first.acquire()
    assert await first.release() is True
    assert await redis_client.exists(KEYS.daemon_lock(ROLE), KEYS.daemon_lock_since(ROLE)) == 0
    second = lease(redis_client, "b:2:bb")
    await second.acquire()
    assert await redis_client.get(KEYS.daemon_lock(ROLE)) == b"b:2:bb"
    assert await first.release() is False  # a second release never deletes someone else's lease
    assert await redis_client.get(KEYS.daemon_lock(ROLE)) == b"b:2:bb"


async def test_a_crashed_holders_lease_runs_out_by_itself(redis_client):
    crashed = lease(redis_client, "a:1:aa", lease_seconds=0.5)
    await crashed.acquire()  # and never renewed nor released: a SIGKILLed daemon
    with pytest.raises(NamespaceLockedError):
        await lease(redis_client, "b:2:bb").acquire()
    await asyncio.sleep(0.6)
    await lease(redis_client, "b:2:bb").acquire()
    assert await redis_client.get(KEYS.daemon_lock(ROLE)) == b"b:2:bb"


async def test_renewal_keeps_the_lease_beyond_its_length(redis_client):
    holder = lease(redis_client, "a:1:aa", lease_seconds=0.6, renew_seconds=0.2)
    await holder.acquire()
    renewing = asyncio.create_task(holder.hold())
    try:
        await asyncio.sleep(1.8)  # three lease lengths
        with pytest.raises(NamespaceLockedError):
            await lease(redis_client, "b:2:bb").acquire()
        assert not renewing.done()
    finally:
        renewing.cancel()
        await asyncio.gather(renewing, return_exceptions=True)
    assert await holder.release() is True


async def test_a_lease_taken_by_another_daemon_is_reported_lost(redis_client):
    stalled = lease(redis_client, "a:1:aa", lease_seconds=0.3, renew_seconds=0.1)
    await stalled.acquire()
    await asyncio.sleep(0.4)  # no renewal got through: the lease ran out
    await lease(redis_client, "b:2:bb").acquire()
    with pytest.raises(LeaseLostError) as lost:
        await stalled.renew()
    assert "lost the engine lease on Redis namespace 'lease'" in str(lost.value)
    assert "host b, pid 2" in str(lost.value)
    assert await stalled.release() is False
    assert await redis_client.get(KEYS.daemon_lock(ROLE)) == b"b:2:bb"
    # The background renewal ends with the same error, so the daemon stops.
    again = lease(redis_client, "c:3:cc", lease_seconds=0.3, renew_seconds=0.05)
    again.held = True
    with pytest.raises(LeaseLostError):
        await asyncio.wait_for(again.hold(), 2)


async def test_a_lease_that_ran_out_unclaimed_is_taken_again(redis_client):
    holder = lease(redis_client, "a:1:aa", lease_seconds=0.3)
    await holder.acquire()
    await asyncio.sleep(0.4)
    assert await redis_client.exists(KEYS.daemon_lock(ROLE)) == 0
    assert await holder.renew() is True
    assert await redis_client.get(KEYS.daemon_lock(ROLE)) == b"a:1:aa"
    assert 0 < await redis_client.pttl(KEYS.daemon_lock(ROLE)) <= 300


async def test_the_roles_are_leased_apart(redis_client):
    """Ingest and engine may run as two processes on one namespace; two of either may not."""
    engine = NamespaceLease(redis_client, KEYS, "engine", 15.0, 5.0, WallClock(), owner="a:1:aa")
    ingest = NamespaceLease(redis_client, KEYS, "ingest", 15.0, 5.0, WallClock(), owner="b:2:bb")
    await engine.acquire()
    await ingest.acquire()
    with pytest.raises(NamespaceLockedError, match="runs the ingest on Redis namespace 'lease': host b, pid 2"):
        await NamespaceLease(redis_client, KEYS, "ingest", 15.0, 5.0, WallClock(), owner="c:3:cc").acquire()
    with pytest.raises(ValueError, match="unknown role 'scanner'"):
        NamespaceLease(redis_client, KEYS, "scanner", 15.0, 5.0, WallClock())
