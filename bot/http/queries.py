"""Read-only questions about the trading record in Redis, answered as JSON-able values.

Used by the HTTP API (bot.http.api) and by the Telegram commands (/status, /positions). Everything
comes from what the engine's ledger committed (bot.engine.ledger; docs/redis-layout.md), so an
answer is the state a restarted daemon would resume from. Money stays the ledger's exact decimal
text, never a float; times are integer nanoseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import msgspec
import redis.asyncio as redis

from bot.bus.redis_keys import RedisKeys
from bot.domain.trading import GuardLevel, OrderStatus

ACCOUNT_FIELDS = ("equity", "cash", "position_value", "realized_pnl", "unrealized_pnl", "fees_paid")
ORDER_STATUSES = tuple(status.value for status in OrderStatus)
_LEVEL_NAMES = {level.value: level.name for level in GuardLevel}
# Scanner hash fields that are integers; every other one is text (decimals) or JSON.
_SCAN_INTEGERS = frozenset({"ts_event", "ts_scan", "trade_count"})
_SCAN_JSON = frozenset({"anomaly_reasons", "anomalies", "gainers", "losers", "rows_rejected"})
_SUMMARY_INTEGERS = frozenset({"ts_event", "ts_scan", "pairs_scanned", "advancers", "decliners", "unchanged"})
_STATUS_INTEGERS = frozenset({"last_attempt_ns", "last_success_ns", "refreshes", "failures",
                              "consecutive_failures", "rows_rejected_total"})


class WatchedModel(Protocol):
    """What the daemon's model watcher (bot.models.watcher.ModelWatcher) tells about its model;
    a Protocol so this module does not import XGBoost."""

    name: str
    registry: Any
    holder: Any
    stale: bool
    refused_version: str | None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _texts(raw: Mapping[bytes, bytes]) -> dict[str, str]:
    return {_text(key): _text(value) for key, value in raw.items()}


def _level_name(level: int) -> str:
    return _LEVEL_NAMES.get(level, str(level))


class TradingQueries:
    def __init__(
        self,
        client: redis.Redis,
        keys: RedisKeys,
        *,
        model_watchers: Callable[[], Sequence[WatchedModel]] | None = None,
    ) -> None:
        """`model_watchers`: the daemon's watchers as they are at call time (they are created
        after the HTTP endpoint starts), for `models()`; left out, `models()` reports none."""
        self._client = client
        self._keys = keys
        self._model_watchers = model_watchers

    async def status(self) -> dict[str, Any]:
        """The account as of the last commit, open positions and the size of the record."""
        keys = self._keys
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.account())
            pipe.hgetall(keys.balances())
            pipe.hlen(keys.positions())
            pipe.hvals(keys.orders())
            pipe.xlen(keys.fills())
            pipe.xlen(keys.decisions())
            account_raw, balances_raw, positions, orders_raw, fills, decisions = await pipe.execute()
        account = _texts(account_raw)
        by_status: dict[str, int] = {}
        for raw in orders_raw:
            status = msgspec.json.decode(raw)["status"]
            by_status[status] = by_status.get(status, 0) + 1
        return {
            "committed": bool(account),
            "ts": int(account["ts"]) if "ts" in account else None,
            "trading_state": account.get("trading_state"),
            "state_reason": account.get("state_reason"),
            **{name: account.get(name) for name in ACCOUNT_FIELDS},
            "open_positions": int(positions),
            "balances": dict(sorted(_texts(balances_raw).items())),
            "orders_by_status": dict(sorted(by_status.items())),
            "fills": int(fills),
            "decisions": int(decisions),
        }

    async def positions(self) -> list[dict[str, Any]]:
        """Open positions, by symbol: quantity, average price, PnL, fees, stop and take-profit."""
        raw = await self._client.hgetall(self._keys.positions())
        return [msgspec.json.decode(value) for _, value in sorted(raw.items())]

    async def orders(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Orders, most recently updated first; only those in `status` (an OrderStatus) if given."""
        if status is not None and status not in ORDER_STATUSES:
            raise ValueError(f"status must be one of {', '.join(ORDER_STATUSES)}, got {status!r}")
        _check_limit(limit)
        orders = [msgspec.json.decode(raw) for raw in await self._client.hvals(self._keys.orders())]
        if status is not None:
            orders = [order for order in orders if order["status"] == status]
        orders.sort(key=lambda order: (order["ts_updated"], order["client_order_id"]), reverse=True)
        return orders[:limit]

    async def decisions(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest strategy signals and what was decided about each, newest first."""
        _check_limit(limit)
        entries = await self._client.xrevrange(self._keys.decisions(), count=limit)
        decisions = []
        for entry_id, fields in entries:
            decision = msgspec.json.decode(fields[b"decision"])
            decision["id"] = _text(entry_id)
            decision["guard_level_name"] = _level_name(decision["guard_level"])
            decisions.append(decision)
        return decisions

    async def guards(self) -> list[dict[str, Any]]:
        """Every symbol's latest guard assessment (level, recommendation, reasons, verdicts)."""
        raw = await self._client.hgetall(self._keys.assessments())
        assessments = []
        for _, value in sorted(raw.items()):
            assessment = msgspec.json.decode(value)
            assessment["level_name"] = _level_name(assessment["level"])
            for verdict in assessment.get("verdicts", []):
                verdict["level_name"] = _level_name(verdict["level"])
            assessments.append(assessment)
        return assessments

    async def scanner(self, limit: int = 50) -> dict[str, Any]:
        """The latest market scan: summary, refresh health, pair list, and the `limit` most
        traded pairs' figures."""
        _check_limit(limit)
        keys = self._keys
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.scanner_summary())
            pipe.hgetall(keys.scanner_status())
            pipe.lrange(keys.scanner_pairs(), 0, -1)
            pipe.zrevrange(keys.scanner_index(), 0, limit - 1)
            summary_raw, status_raw, pairs, ranked = await pipe.execute()
        async with self._client.pipeline(transaction=False) as pipe:
            for symbol in ranked:
                pipe.hgetall(keys.scanner_symbol(_text(symbol)))
            rows = await pipe.execute() if ranked else []
        return {
            "summary": _typed(_texts(summary_raw), _SUMMARY_INTEGERS) if summary_raw else None,
            "status": _typed(_texts(status_raw), _STATUS_INTEGERS) if status_raw else None,
            "pairs": [_text(pair) for pair in pairs],
            # A pair may drop out between reading the index and its hash: skip the empty answer.
            "results": [_typed(_texts(row), _SCAN_INTEGERS) for row in rows if row],
        }

    async def models(self) -> list[dict[str, Any]]:
        """Each hot-loaded model: the version loaded, the registry's CURRENT, and the manifest."""
        watchers = list(self._model_watchers()) if self._model_watchers is not None else []
        answers = []
        for watcher in sorted(watchers, key=lambda watcher: watcher.name):
            try:
                current = await asyncio.to_thread(watcher.registry.current_version, watcher.name)
                current_error = None
            except Exception as error:  # noqa: BLE001 - an unreadable CURRENT is part of the answer
                current, current_error = None, str(error)
            model = watcher.holder.model
            manifest = model.manifest if model is not None else None
            answers.append({
                "name": watcher.name,
                "loaded_version": manifest.version if manifest is not None else None,
                "registry_current": current,
                "registry_error": current_error,
                "refused_version": watcher.refused_version,
                "stale": bool(watcher.stale),
                "loaded_at_ns": model.loaded_at_ns if model is not None else None,
                "manifest": _manifest_summary(manifest) if manifest is not None else None,
            })
        return answers

    async def alerts(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest alerts (bot.alerts.Alert), newest first."""
        _check_limit(limit)
        entries = await self._client.xrevrange(self._keys.alerts(), count=limit)
        alerts = []
        for entry_id, fields in entries:
            alert = msgspec.json.decode(fields[b"alert"])
            alert["id"] = _text(entry_id)
            alerts.append(alert)
        return alerts


MAXIMUM_LIMIT = 1000


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAXIMUM_LIMIT:
        raise ValueError(f"limit must be a whole number from 1 to {MAXIMUM_LIMIT}, got {limit!r}")


def _typed(fields: dict[str, str], integers: frozenset[str]) -> dict[str, Any]:
    """A scanner hash as JSON values: integers as numbers, JSON fields parsed, decimals kept as
    their exact text, and the empty string (a figure that could not be computed) as null."""
    typed: dict[str, Any] = {}
    for name, value in sorted(fields.items()):
        if name in integers:
            typed[name] = int(value) if value else None
        elif name in _SCAN_JSON:
            typed[name] = msgspec.json.decode(value) if value else None
        else:
            typed[name] = value if value != "" else None
    return typed


def _manifest_summary(manifest: Any) -> dict[str, Any]:
    return {
        "kind": manifest.kind,
        "created_at_ns": manifest.created_at_ns,
        "feature_spec_version": manifest.feature_spec_version,
        "feature_names": list(manifest.feature_names),
        "symbols": list(manifest.symbols),
        "training_window": {"start_ms": manifest.training_window.start_ms, "end_ms": manifest.training_window.end_ms},
        "test_window": {"start_ms": manifest.test_window.start_ms, "end_ms": manifest.test_window.end_ms},
        "label": {"kind": manifest.label.kind, "interval": manifest.label.interval,
                  "horizon_bars": manifest.label.horizon_bars, "flat_threshold": manifest.label.flat_threshold},
        "metrics": dict(sorted(manifest.metrics.items())),
    }
