"""One daemon per Redis namespace and role: a lease on `<ns>:daemon:lock:<role>`.

Two engines on one namespace would both consume the record as the same consumer group and both
write the ledger: orders doubled, balances overwritten. Two ingesters would interleave the latest
state and book checkpoints, and a replay ingester clears the namespace it starts on. So start-up
takes a lease per role it runs (`ingest`, `engine`) before anything is written:
`SET <ns>:daemon:lock:<role> <owner> NX PX <lease>`, the owner id being `host:pid:random`. A
second daemon finds it held and refuses to start, naming the holder and when its lease runs out.
Per role, because ingest and engine may run as two processes on one Redis (`ingest.enabled`,
`engine.enabled`): those two do not conflict.

The lease has a time-to-live rather than living until deleted, so a daemon that crashed (SIGKILL,
power loss) needs no clean-up: its lease runs out by itself and the next start just works
(crash-only). A running daemon renews it in the background, well before it runs out, with a
compare-and-extend script: only the owner's renewal extends it. Clean exit deletes it with a
compare-and-delete, so the next daemon can start at once.

If a renewal finds ANOTHER owner, this daemon's lease ran out (a stall or a Redis outage longer
than the lease) and a second daemon took the namespace: this one must stop trading at once.
If it finds NO owner (the lease ran out, nobody took it), it takes it again and says so.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as redis
import structlog
from redis.exceptions import RedisError

from bot.bus.redis_keys import RedisKeys
from bot.clock import Clock
from bot.errors import StartupError

log = structlog.get_logger(__name__)

# KEYS: lock, since. ARGV: owner, lease ms, since ns.
# {1} taken; {0, holder, holder's since, ms left} held by someone else.
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
  return {1}
end
return {0, redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('PTTL', KEYS[1])}
"""
# {1} extended; {2} had run out and nobody held it: taken again; {0, holder, since, ms left} lost.
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
  return {1}
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
  return {2}
end
return {0, holder, redis.call('GET', KEYS[2]), redis.call('PTTL', KEYS[1])}
"""
# 1 deleted; 0 not ours (ran out, or someone else's): left alone.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0
"""


ROLES = ("engine", "ingest")


class NamespaceLockedError(StartupError):
    """Another daemon holds the namespace's lease for a role this one would run."""


class LeaseLostError(StartupError):
    """The lease ran out while this daemon ran, and another daemon holds it now."""


def new_owner_id() -> str:
    """`host:pid:random`: who holds the lease, for people; random, so a reused pid never matches."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    owner: str
    since_ns: int | None
    expires_in_seconds: float

    def describe(self) -> str:
        host, _, rest = self.owner.partition(":")
        pid = rest.partition(":")[0]
        since = "an unknown time"
        if self.since_ns is not None:
            since = datetime.fromtimestamp(self.since_ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (f"host {host}, pid {pid}, holding it since {since}; its lease runs out in "
                f"{self.expires_in_seconds:.1f} s unless renewed (owner id {self.owner})")


def _holder(reply: list) -> LeaseHolder:
    owner, since, milliseconds_left = reply[1], reply[2], reply[3]
    return LeaseHolder(
        owner=owner.decode() if isinstance(owner, bytes) else str(owner),
        since_ns=int(since) if since is not None else None,
        expires_in_seconds=max(0, int(milliseconds_left)) / 1000,
    )


class NamespaceLease:
    def __init__(
        self,
        client: redis.Redis,
        keys: RedisKeys,
        role: str,
        lease_seconds: float,
        renew_seconds: float,
        clock: Clock,
        owner: str | None = None,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
        self._client = client
        self._keys = (keys.daemon_lock(role), keys.daemon_lock_since(role))
        self._namespace = keys.namespace
        self.role = role
        self._lease_milliseconds = max(1, round(lease_seconds * 1000))
        self._renew_seconds = renew_seconds
        self._clock = clock
        self.owner = owner or new_owner_id()
        self.since_ns: int | None = None
        self.held = False

    async def acquire(self) -> None:
        """Takes the lease, or raises NamespaceLockedError naming whoever holds it."""
        since = self._clock.now_ns()
        reply = await self._client.eval(_ACQUIRE, 2, *self._keys, self.owner, self._lease_milliseconds, since)
        if int(reply[0]) != 1:
            holder = _holder(reply)
            raise NamespaceLockedError(
                f"another tradebot daemon runs the {self.role} on Redis namespace {self._namespace!r}: {holder.describe()}. "
                f"Stop it first, or choose another redis.namespace (TRADEBOT_REDIS__NAMESPACE); a crashed "
                f"daemon's lease runs out by itself (lifecycle.lock_lease_seconds)"
            )
        self.since_ns, self.held = since, True
        log.info("namespace lease taken", namespace=self._namespace, role=self.role, owner=self.owner,
                 lease_seconds=self._lease_milliseconds / 1000)

    async def renew(self) -> bool:
        """One renewal. True: still ours. Raises LeaseLostError if another daemon holds it."""
        reply = await self._client.eval(_RENEW, 2, *self._keys, self.owner, self._lease_milliseconds, self.since_ns or 0)
        outcome = int(reply[0])
        if outcome == 1:
            return True
        if outcome == 2:
            log.warning("the namespace lease had run out (no renewal got through in time) and nobody else took it: "
                        "taken again", namespace=self._namespace, role=self.role, owner=self.owner)
            return True
        self.held = False
        holder = _holder(reply)
        raise LeaseLostError(
            f"lost the {self.role} lease on Redis namespace {self._namespace!r}: it ran out before a renewal got through "
            f"and another daemon holds it now ({holder.describe()}); stopping without writing anything more"
        )

    async def hold(self) -> None:
        """Renews the lease every renew interval, for as long as it runs; raises LeaseLostError
        when another daemon took it. A renewal that fails (Redis unreachable) is retried at the
        next interval: the lease outlives two failed renewals."""
        last_renewed = time.monotonic()
        warned_expired = False
        while True:
            await asyncio.sleep(self._renew_seconds)
            try:
                await self.renew()
            except RedisError as error:
                unrenewed = time.monotonic() - last_renewed
                expired = unrenewed * 1000 > self._lease_milliseconds
                if expired and not warned_expired:
                    log.error("the namespace lease may have run out: no renewal for longer than the lease",
                              namespace=self._namespace, role=self.role, seconds_since_renewal=round(unrenewed, 1), error=str(error))
                    warned_expired = True
                else:
                    log.warning("could not renew the namespace lease; retrying", namespace=self._namespace, role=self.role, error=str(error))
            else:
                last_renewed = time.monotonic()
                warned_expired = False

    async def release(self) -> bool:
        """Deletes the lease if it is still ours; True if it was. The next daemon can start at once."""
        if not self.held:
            return False
        released = bool(await self._client.eval(_RELEASE, 2, *self._keys, self.owner))
        self.held = False
        if released:
            log.info("namespace lease released", namespace=self._namespace, role=self.role, owner=self.owner)
        return released
