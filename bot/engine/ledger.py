"""The ledger: orders, fills, positions, balances, decisions and TradingState in Redis.

Everything one batch of events changed is written in ONE MULTI/EXEC transaction together with the
XACK of those entries and the snapshots of the money state (portfolio, paper broker, risk,
trading state). Redis applies a transaction whole or not at all, so after a crash the ledger and
the consumer group agree: an entry is either acknowledged with all its effects recorded, or
pending with none of them, and is then handled again (once). Client order ids are deterministic,
so handling it again asks for the same orders.

Writes are retried with backoff while Redis is unreachable; nothing is dropped, the engine just
waits (and, being behind, catches up from the record when Redis is back).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import msgspec
import redis.asyncio as redis
import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.backoff import Backoff
from bot.bus.redis_consumer import EntryRef
from bot.bus.redis_keys import RedisKeys
from bot.engine.records import EngineOutputs
from bot.risk import Portfolio

log = structlog.get_logger(__name__)

_ENCODER = msgspec.json.Encoder(decimal_format="string")
_DECISIONS_MAX_LENGTH = 1_000_000
_FILLS_MAX_LENGTH = 1_000_000


class AccountSummary(msgspec.Struct, frozen=True, kw_only=True):
    ts: int
    equity: str
    cash: str
    position_value: str
    realized_pnl: str
    unrealized_pnl: str
    fees_paid: str
    trading_state: str
    state_reason: str


class RedisLedger:
    def __init__(self, client: redis.Redis, keys: RedisKeys, group: str) -> None:
        self._client = client
        self._keys = keys
        self._group = group
        self._backoff = Backoff(initial_seconds=0.1, maximum_seconds=5.0)
        self.commits = 0

    async def load_snapshots(self) -> dict[str, bytes]:
        """The money state as of the last commit ({} on a first start)."""
        raw = await self._client.hgetall(self._keys.engine_snapshots())
        return {(name.decode() if isinstance(name, bytes) else name): value for name, value in raw.items()}

    async def read_commands(self, after: str) -> list[tuple[str, str, str]]:
        """Operator commands after id `after`: (id, command, reason)."""
        entries = await self._client.xrange(self._keys.commands(), min=f"({after}" if after != "0" else "-", count=100)
        commands = []
        for entry_id, fields in entries:
            command = fields.get(b"command", b"").decode()
            reason = fields.get(b"reason", b"operator command").decode()
            commands.append((entry_id.decode(), command, reason))
        return commands

    async def commit(
        self,
        outputs: EngineOutputs,
        acknowledged: list[EntryRef],
        portfolio: Portfolio,
        account: AccountSummary | None,
        snapshots: Mapping[str, bytes],
    ) -> None:
        """Writes a batch's effects and acknowledges its entries atomically; retries until done."""
        attempt = 0
        while True:
            try:
                await self._commit_once(outputs, acknowledged, portfolio, account, snapshots)
                self.commits += 1
                return
            except (RedisConnectionError, RedisTimeoutError, OSError) as error:
                attempt += 1
                delay = self._backoff.delay(attempt)
                log.warning("ledger commit failed; retrying", error=str(error), retry_in_seconds=round(delay, 2))
                await asyncio.sleep(delay)

    async def _commit_once(self, outputs, acknowledged, portfolio, account, snapshots) -> None:
        keys = self._keys
        pipe = self._client.pipeline(transaction=True)
        for decision in outputs.decisions:
            pipe.xadd(keys.decisions(), {"decision": _ENCODER.encode(decision)}, maxlen=_DECISIONS_MAX_LENGTH, approximate=True)
        if outputs.orders:
            pipe.hset(keys.orders(), mapping={order_id: _ENCODER.encode(order) for order_id, order in outputs.orders.items()})
        for fill in outputs.fills:
            pipe.xadd(keys.fills(), {"fill": _ENCODER.encode(fill)}, maxlen=_FILLS_MAX_LENGTH, approximate=True)
        for change in outputs.state_changes:
            pipe.xadd(keys.state_changes(), {"change": _ENCODER.encode(change)})
        if outputs.assessments:
            pipe.hset(keys.assessments(), mapping={symbol: _ENCODER.encode(a) for symbol, a in outputs.assessments.items()})
        if outputs.account_changed:
            positions = portfolio.positions
            pipe.delete(keys.positions())
            if positions:
                pipe.hset(keys.positions(), mapping={symbol: _ENCODER.encode(p) for symbol, p in positions.items()})
            pipe.delete(keys.balances())
            balances = {asset: str(amount) for asset, amount in portfolio.cash_balances.items()}
            if balances:
                pipe.hset(keys.balances(), mapping=balances)
        if account is not None:
            pipe.hset(keys.account(), mapping=msgspec.structs.asdict(account))
        if snapshots:
            pipe.hset(keys.engine_snapshots(), mapping=dict(snapshots))
        by_stream: dict[str, list[bytes]] = {}
        for stream, entry_id in acknowledged:
            by_stream.setdefault(stream, []).append(entry_id)
        for stream, ids in by_stream.items():
            pipe.xack(stream, self._group, *ids)
        await pipe.execute()
