"""The engine's consumer loop: read the record, handle, commit, acknowledge.

Start-up is the recovery path (crash-only): money state comes back from the ledger's snapshots,
market knowledge is rebuilt by warming the engine over the already-handled record, and entries
that were read but not committed before a crash are handled again (they are still pending in the
consumer group), exactly once.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from collections.abc import Callable

import structlog

from bot.bus.redis_consumer import EntryRef, RedisEventConsumer
from bot.clock import Clock
from bot.engine.engine import TradingEngine
from bot.engine.ledger import AccountSummary, RedisLedger
from bot.engine.records import EngineOutputs

log = structlog.get_logger(__name__)

_NANOSECONDS = 1_000_000_000
# Operator commands are looked for at most this often: a Redis round trip per batch would add
# one read to every batch for something that happens a few times a day.
_COMMAND_POLL_NS = 250_000_000
_DISPLAY_STEP = Decimal("0.00000001")


def _cents(amount: Decimal) -> str:
    """A summary figure to Binance's 8 decimals (the ledger itself keeps exact values)."""
    return str(amount.quantize(_DISPLAY_STEP))


class EngineRunner:
    def __init__(
        self,
        engine: TradingEngine,
        consumer: RedisEventConsumer,
        ledger: RedisLedger,
        wall_clock: Clock,
        snapshot_sources: dict[str, Callable[[], bytes]],
        commands_cursor: str = "0",
    ) -> None:
        self.engine = engine
        self._consumer = consumer
        self._ledger = ledger
        self._wall_clock = wall_clock
        self._snapshot_sources = snapshot_sources
        self._commands_cursor = commands_cursor
        self._commands_polled_ns = 0
        self.events_handled = 0
        self.warmed_events = 0
        # What the terminal view shows: each strategy's latest signal, each symbol's guard level.
        self.latest_signals: dict[tuple[str, str], str] = {}
        self.latest_assessments: dict = {}
        self.caught_up = asyncio.Event()
        self.ready = asyncio.Event()
        # Called with each batch's outputs once the ledger holds them (the alerts); they must only
        # queue work, never wait: the engine's next batch waits on them.
        self.commit_listeners: list[Callable[[EngineOutputs], None]] = []

    async def recover(self) -> None:
        """Rebuilds market knowledge from the handled record (money comes from snapshots)."""
        bounds = await self._consumer.handled_bounds()
        async for events in self._consumer.handled(bounds):
            for event in events:
                self.engine.warm(event)
            self.warmed_events += len(events)
        if self.warmed_events:
            log.info("engine state rebuilt from the record", events=self.warmed_events)
        self.engine.take_outputs()  # warm-up decides nothing; drop any bookkeeping it left
        self.engine.outputs.account_changed = True  # the first commit writes balances and snapshots
        self.ready.set()

    async def run(self, stop: asyncio.Event) -> None:
        await self.recover()
        while not stop.is_set():
            await self._apply_commands()
            batch = await self._consumer.next_batch()
            if not batch:
                self.caught_up.set()
                if self.engine.outputs:
                    await self._commit([], [])
                continue
            self.caught_up.clear()
            await self._handle(batch)

    async def _handle(self, batch) -> None:
        decided_at: list[int] = []
        refs: list[EntryRef] = []
        engine = self.engine
        for event, ref in batch:
            before = len(engine.outputs.decisions)
            await engine.handle(event)
            if len(engine.outputs.decisions) > before:
                decided_at.append(event.ts_init)
            refs.append(ref)
        self.events_handled += len(batch)
        engine.metrics.batch_events.set(len(batch))
        await self._commit(refs, decided_at)

    async def _commit(self, refs: list[EntryRef], decided_at: list[int]) -> None:
        engine = self.engine
        outputs = engine.take_outputs()
        for decision in outputs.decisions:
            self.latest_signals[(decision.symbol, decision.strategy)] = decision.action.value
        self.latest_assessments.update(outputs.assessments)
        snapshots = {name: source() for name, source in self._snapshot_sources.items() if outputs.account_changed or name in ("risk", "trading_state")}
        snapshots["commands_cursor"] = self._commands_cursor.encode()
        await self._ledger.commit(outputs, refs, engine.portfolio, self._account(), snapshots)
        for listener in self.commit_listeners:
            try:
                listener(outputs)
            except Exception:  # noqa: BLE001 - a listener's bug must not stop trading
                log.exception("commit listener failed", listener=repr(listener))
        now = self._wall_clock.now_ns()
        observe = engine.metrics.decision_latency.series().observe
        for ts_init in decided_at:
            observe(max(0, now - ts_init) / _NANOSECONDS)

    def _account(self) -> AccountSummary:
        engine = self.engine
        marks = engine.market.marks()
        portfolio = engine.portfolio
        equity = portfolio.equity(marks)
        position_value = portfolio.total_exposure(marks)
        engine.metrics.equity.set(float(equity))
        engine.metrics.position_value.set(float(position_value))
        engine.metrics.set_trading_state(engine.state_machine.state)
        return AccountSummary(
            ts=engine.clock.now_ns(), equity=_cents(equity), cash=_cents(portfolio.cash()),
            position_value=_cents(position_value), realized_pnl=_cents(portfolio.realized_pnl),
            unrealized_pnl=_cents(portfolio.total_unrealized_pnl(marks)), fees_paid=_cents(portfolio.fees_paid),
            trading_state=engine.state_machine.state.value, state_reason=engine.state_machine.reason or "",
        )

    async def _apply_commands(self) -> None:
        now = self._wall_clock.now_ns()
        if now - self._commands_polled_ns < _COMMAND_POLL_NS:
            return
        self._commands_polled_ns = now
        for entry_id, command, reason in await self._ledger.read_commands(self._commands_cursor):
            self._commands_cursor = entry_id
            if command in ("halt", "reduce", "resume"):
                self.engine.command(command, reason)
                log.warning("operator command applied", command=command, reason=reason, state=self.engine.state_machine.state.value)
            else:
                log.error("unknown operator command ignored", command=command)
