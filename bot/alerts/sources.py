"""Where the daemon's alerts come from: what the engine committed, the streams' health, the day.

`EngineAlerts.after_commit` turns one committed batch (bot.engine.records.EngineOutputs) into
alerts: orders placed / filled / rejected, guard levels rising to HIGH or CRITICAL, TradingState
changes. It runs after the ledger's commit, so an alert never announces something the record does
not hold, and it only queues (AlertDispatcher.publish), so the engine never waits on a channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import redis.asyncio as redis
import structlog
from redis.exceptions import RedisError

from bot.alerts.alert import Alert
from bot.alerts.kinds import SEVERITY, AlertKind
from bot.bus.redis_keys import RedisKeys
from bot.clock import Clock
from bot.domain.trading import GuardLevel, OrderStatus

log = structlog.get_logger("bot.alerts")

_NANOSECONDS = 1_000_000_000
_RESTING = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


def _alert(kind: AlertKind, message: str, at_ns: int, severity=None, **details: object) -> Alert:
    return Alert(kind=kind.value, severity=severity or SEVERITY[kind], message=message, at_ns=at_ns,
                 details={key: str(value) for key, value in details.items() if value is not None})


class EngineAlerts:
    def __init__(self, publish: Callable[[Alert], object], clock: Clock, client: redis.Redis | None = None,
                 keys: RedisKeys | None = None) -> None:
        self._publish = publish
        self._clock = clock
        self._client = client
        self._keys = keys
        self._levels: dict[str, GuardLevel] = {}
        self._announced: set[tuple[str, str]] = set()  # (order id, status) already alerted
        self.guard_counts: dict[str, int] = {"HIGH": 0, "CRITICAL": 0}

    def after_commit(self, outputs) -> None:
        now = self._clock.now_ns()
        filled: dict[str, list] = {}
        for fill in outputs.fills:
            filled.setdefault(fill.client_order_id, []).append(fill)
        for order in outputs.orders.values():
            self._order(order, filled.pop(order.client_order_id, []), now)
        for change in outputs.state_changes:
            severity = "critical" if change.state == "HALTED" else "info" if change.state == "ACTIVE" else "warning"
            self._publish(_alert(
                AlertKind.TRADING_STATE_CHANGED, f"TradingState {change.previous} → {change.state}: {change.reason}",
                now, severity=severity, cause=change.cause, previous=change.previous, state=change.state,
            ))
        for symbol, assessment in sorted(outputs.assessments.items()):
            self._assessment(symbol, assessment, now)

    def _order(self, order, fills: list, now: int) -> None:
        key = (order.client_order_id, order.status.value)
        if key in self._announced:
            return
        if len(self._announced) > 100_000:
            self._announced.clear()  # bounded memory; a repeat is also caught by the dedup window
        self._announced.add(key)
        common = {"order_id": order.client_order_id, "symbol": order.symbol, "side": order.side.value,
                  "strategy": order.strategy or None}
        if order.status is OrderStatus.REJECTED:
            self._publish(_alert(
                AlertKind.ORDER_REJECTED, f"{order.side.value} {order.quantity} {order.symbol} rejected: {order.reject_reason or 'no reason given'}",
                now, **common, reason=order.reject_reason,
            ))
        elif fills:
            quantity = sum((fill.quantity for fill in fills), Decimal(0))
            cost = sum((fill.quantity * fill.price for fill in fills), Decimal(0))
            price = (cost / quantity).quantize(fills[0].price) if quantity else fills[0].price
            fee = sum((fill.fee for fill in fills), Decimal(0))
            done = "filled" if order.status is OrderStatus.FILLED else f"partly filled ({order.filled_quantity}/{order.quantity})"
            self._publish(_alert(
                AlertKind.ORDER_FILLED, f"{order.side.value} {quantity} {order.symbol} at {price} {done}",
                now, **common, quantity=quantity, price=price, fee=f"{fee} {fills[0].fee_asset}",
            ))
        elif order.status in _RESTING:
            self._publish(_alert(
                AlertKind.ORDER_PLACED, f"{order.side.value} {order.quantity} {order.symbol} {order.order_type.value}"
                + (f" at {order.price}" if order.price is not None else "") + " placed",
                now, **common,
            ))

    def _assessment(self, symbol: str, assessment, now: int) -> None:
        previous = self._levels.get(symbol, GuardLevel.NORMAL)
        level = assessment.level
        self._levels[symbol] = level
        if level < GuardLevel.HIGH or level <= previous:
            return  # only a rise into HIGH or CRITICAL is news; staying there is not
        self.guard_counts[level.name] += 1
        kind = AlertKind.GUARD_CRITICAL if level is GuardLevel.CRITICAL else AlertKind.GUARD_HIGH
        reasons = "; ".join(assessment.reasons[:3]) or "no reason given"
        self._publish(_alert(
            kind, f"{symbol} guards {level.name}: {reasons}", now,
            symbol=symbol, recommendation=assessment.recommendation.value, action=assessment.action,
        ))


class StreamHealthAlerts:
    """Alerts when a stream stays stale (silent, or its connection down) past a limit, and again
    when it delivers. Polls the ingest client's view once a second: cheap, and it needs no hook in
    the client's hot path."""

    def __init__(self, stale_streams: Callable[[], set[str]], publish: Callable[[Alert], object], clock: Clock,
                 limit_seconds: float) -> None:
        self._stale_streams = stale_streams
        self._publish = publish
        self._clock = clock
        self._limit_ns = int(limit_seconds * _NANOSECONDS)
        self._stale_since: dict[str, int] = {}
        self._alerted: set[str] = set()

    def check(self) -> None:
        now = self._clock.now_ns()
        stale = self._stale_streams()
        for stream in stale:
            self._stale_since.setdefault(stream, now)
        late = sorted(stream for stream in stale if stream not in self._alerted and now - self._stale_since[stream] >= self._limit_ns)
        if late:
            self._alerted.update(late)
            self._publish(_alert(
                AlertKind.STREAM_STALE, f"{len(late)} stream(s) silent or disconnected for over {self._limit_ns / _NANOSECONDS:g} s: {', '.join(late[:10])}",
                now, streams=",".join(late),
            ))
        recovered = sorted(stream for stream in self._stale_since if stream not in stale)
        back = [stream for stream in recovered if stream in self._alerted]
        if back:
            longest = max(now - self._stale_since[stream] for stream in back) / _NANOSECONDS
            self._publish(_alert(
                AlertKind.STREAM_RECOVERED, f"{len(back)} stream(s) delivering again after up to {longest:.0f} s: {', '.join(back[:10])}",
                now, streams=",".join(back),
            ))
        for stream in recovered:
            self._stale_since.pop(stream)
            self._alerted.discard(stream)

    async def run(self, period_seconds: float = 1.0) -> None:
        while True:
            await asyncio.sleep(period_seconds)
            self.check()


class DailySummary:
    """Once a day at `alerts.daily_summary_at` (UTC): equity, the day's PnL (equity change since
    the last summary, kept in Redis so a restart keeps the baseline), trades, guard counts."""

    def __init__(self, client: redis.Redis, keys: RedisKeys, publish: Callable[[Alert], object], clock: Clock,
                 minute_of_day: int, guard_counts: Callable[[], dict[str, int]]) -> None:
        self._client = client
        self._keys = keys
        self._publish = publish
        self._clock = clock
        self._minute = minute_of_day
        self._guard_counts = guard_counts
        self._counted: dict[str, int] = {}

    def next_due_ns(self, now_ns: int) -> int:
        now = datetime.fromtimestamp(now_ns / _NANOSECONDS, tz=timezone.utc)
        due = now.replace(hour=self._minute // 60, minute=self._minute % 60, second=0, microsecond=0)
        if due <= now:
            due += timedelta(days=1)
        return int(due.timestamp()) * _NANOSECONDS

    async def run(self) -> None:
        while True:
            now = self._clock.now_ns()
            await asyncio.sleep((self.next_due_ns(now) - now) / _NANOSECONDS)
            try:
                self._publish(await self.summary())
            except (RedisError, OSError) as error:
                log.error("daily summary skipped: Redis unreachable", error=repr(error))

    async def summary(self) -> Alert:
        now = self._clock.now_ns()
        account = {key.decode(): value.decode() for key, value in (await self._client.hgetall(self._keys.account())).items()}
        previous = {key.decode(): value.decode() for key, value in (await self._client.hgetall(self._keys.daily_summary())).items()}
        since_ms = int(previous.get("at_ms", now // 1_000_000 - 86_400_000))
        fills = await self._client.xrange(self._keys.fills(), min=f"{since_ms + 1}", max="+", count=1_000_000)
        equity = Decimal(account.get("equity", "0"))
        pnl = equity - Decimal(previous["equity"]) if "equity" in previous else None
        counts = self._guard_counts()
        guards = {level: counts.get(level, 0) - self._counted.get(level, 0) for level in ("HIGH", "CRITICAL")}
        self._counted = dict(counts)
        await self._client.hset(self._keys.daily_summary(), mapping={"at_ms": now // 1_000_000, "equity": str(equity)})
        since = datetime.fromtimestamp(since_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        pnl_text = f"{pnl:+f}" if pnl is not None else "n/a (first summary)"
        message = (
            f"since {since}: PnL {pnl_text}, {len(fills)} trades, equity {equity}, "
            f"state {account.get('trading_state', '-')}; guards HIGH {guards['HIGH']}, CRITICAL {guards['CRITICAL']}"
        )
        return _alert(
            AlertKind.DAILY_SUMMARY, message, now, equity=equity, pnl=pnl if pnl is not None else "",
            trades=len(fills), realized_pnl=account.get("realized_pnl"), unrealized_pnl=account.get("unrealized_pnl"),
            guard_high=guards["HIGH"], guard_critical=guards["CRITICAL"], since=since,
        )
