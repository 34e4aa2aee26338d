"""The trading engine: one market event at a time, from features to the broker.

Per event of a traded symbol, in this order:
  1. the engine clock moves to the event's exchange time (never backwards, never the wall clock);
  2. market state (books, quotes, last price), guard windows, bar builders, then every strategy
     on that symbol's closed bars and trades;
  3. the broker sees the event (the paper broker fills resting limit orders on trades through);
  4. stop-loss / take-profit exits on trades, then each strategy signal through guards, risk and
     the broker; every signal becomes a recorded `Decision`;
  5. every `guard_interval` of exchange time the guards are assessed for the record, and a
     CRITICAL market may close the position;
  6. the trading-state machine looks at the day's losses.

`warm(event)` runs only step 2: after a restart the engine replays the already-handled record
through it to rebuild what it knew, while money (portfolio, broker, risk) comes back from the
ledger's snapshots. Signals during warm-up were already decided and are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

import msgspec

from bot.clock import ManualClock
from bot.domain.events import (
    AggTrade,
    BookTicker,
    DepthSnapshot,
    DepthUpdate,
    Kline,
    MarketEvent,
    Trade,
)
from bot.domain.rejections import OrderRejected
from bot.domain.symbols import SymbolRules
from bot.domain.trading import (
    GuardVerdict,
    OrderRequest,
    OrderType,
    Side,
    Signal,
    SignalAction,
)
from bot.engine.bars import BarRouter
from bot.engine.market import MarketState
from bot.engine.metrics import EngineMetrics
from bot.engine.records import Decision, EngineOutputs, StateChange, SymbolAssessment
from bot.execution.broker import Broker, ExecutionReport, rejected_report
from bot.guards import Guard, PolicyOutcome, PolicySettings, evaluate_policy
from bot.guards.policy import DEFAULT_POLICY
from bot.risk import (
    ExitIntent,
    Portfolio,
    RiskManager,
    StateTransition,
    TradingStateMachine,
)
from bot.strategy import Strategy

# Kinds whose ts_event is the exchange's clock; spot bookTicker and depth snapshots carry only
# the receive time, which must not move the engine's clock.
_EXCHANGE_TIMED = (Trade, AggTrade, Kline, DepthUpdate)
_HOLD = SignalAction.HOLD  # an enum member looked up once: attribute access on the class is slow


class TradingEngine:
    def __init__(
        self,
        strategies: Sequence[Strategy],
        guards: Mapping[str, Sequence[Guard]],
        risk: RiskManager,
        state_machine: TradingStateMachine,
        portfolio: Portfolio,
        broker: Broker,
        market: MarketState,
        clock: ManualClock,
        metrics: EngineMetrics,
        guard_interval_ns: int,
        policy_settings: PolicySettings = DEFAULT_POLICY,
        kline_channels: Iterable[tuple[str, str]] = (),
        rules: Mapping[str, SymbolRules] | None = None,
        record_features: bool = True,
        record_holds: bool = True,
    ) -> None:
        self.strategies = list(strategies)
        self.guards = {symbol: list(symbol_guards) for symbol, symbol_guards in guards.items()}
        self.risk = risk
        self.state_machine = state_machine
        self.portfolio = portfolio
        self.broker = broker
        self.market = market
        self.clock = clock
        self.metrics = metrics
        self.bars = BarRouter(self.strategies, kline_channels, record_features)
        self._guard_interval_ns = guard_interval_ns
        self._policy_settings = policy_settings
        self._rules = dict(rules or {})
        self._next_assessment: dict[str, int] = {}
        self._unguarded: dict[SignalAction | None, PolicyOutcome] = {}
        self._record_holds = record_holds
        self.outputs = EngineOutputs()
        # Set when a fill moved the account: only then can the day's loss have changed.
        self._account_moved = False

    # ---- per event ---------------------------------------------------------------------------

    def warm(self, event: MarketEvent) -> None:
        """Rebuilds market knowledge from an already-handled event; decides nothing."""
        self._observe(event)
        self._assessment_due(event.symbol)

    async def handle(self, event: MarketEvent) -> None:
        signals = self._observe(event)
        symbol = event.symbol
        if symbol not in self.market.symbols:
            return
        for report in self.broker.observe_market(event):
            self._book(report)
        if isinstance(event, Trade | AggTrade):
            await self._exits(symbol, event.price)
        for strategy, signal in signals:
            await self._decide(strategy, signal)
        if self._assessment_due(symbol):
            await self._assess(symbol)
            self._watch_losses()  # also once per interval: a new UTC day lifts a loss halt
        elif self._account_moved:
            self._watch_losses()
        self._account_moved = False

    def take_outputs(self) -> EngineOutputs:
        outputs, self.outputs = self.outputs, EngineOutputs()
        return outputs

    def _observe(self, event: MarketEvent) -> list[tuple[Strategy, Signal]]:
        events = self.metrics.events
        events[event.kind] = events.get(event.kind, 0) + 1  # a StrEnum: counted by its text
        if isinstance(event, _EXCHANGE_TIMED) and event.ts_event > self.clock.now_ns():
            self.clock.set(event.ts_event)
        if self.market.apply(event) is None:
            return []
        if not isinstance(event, DepthUpdate | DepthSnapshot):
            if isinstance(event, BookTicker) and self.clock.now_ns():
                # Spot bookTickers carry only their receive time; guards keep their windows on
                # exchange time, so the quote is stamped with the exchange time reached so far.
                event = msgspec.structs.replace(event, ts_event=self.clock.now_ns())
            for guard in self.guards.get(event.symbol, ()):
                guard.observe(event)
        return self.bars.route(event)

    # ---- decisions ----------------------------------------------------------------------------

    async def _decide(self, strategy: Strategy, signal: Signal) -> None:
        self.metrics.signal(signal.strategy, signal.action.value)
        if signal.action is _HOLD and not self._record_holds:
            return  # nothing to decide, and no one keeps the record (a backtest)
        now = self.clock.now_ns()
        price = self.market.last_trade_price(signal.symbol) or self.market.mark(signal.symbol)
        verdicts = [guard.verdict(now) for guard in self.guards.get(signal.symbol, ())]
        policy = self._policy(verdicts, signal.action if signal.action is not SignalAction.HOLD else None)
        order_id = order_status = reject_reason = None
        quantity = None
        if signal.action is SignalAction.HOLD or price is None:
            outcome, text = ("hold", "nothing to do") if price is not None else ("no_price", "no trade or quote seen yet")
        else:
            decision = self.risk.assess(
                signal, policy, self.portfolio, price, now, self.state_machine.state, marks=self.market.marks(),
            )
            outcome, text, quantity = decision.reason.value, decision.text, decision.quantity
            if decision.approved:
                report = await self._submit(decision.to_order_request(OrderType.MARKET))
                order_id, order_status = report.order.client_order_id, report.order.status.value
                reject_reason = report.order.reject_reason or None
                if report.fills and decision.side is Side.BUY and (decision.stop_price or decision.take_profit_price):
                    self.portfolio.set_exit_prices(signal.symbol, decision.stop_price, decision.take_profit_price)
        self.outputs.decisions.append(Decision(
            ts=now, symbol=signal.symbol, strategy=signal.strategy, action=signal.action,
            strength=signal.strength, trigger=signal.trigger, reason=signal.reason, price=price,
            features=self.bars.latest_features.get((signal.symbol, strategy.interval)),
            guard_level=policy.level, guard_action=policy.action.value, guard_reasons=tuple(policy.reasons),
            risk_outcome=outcome, risk_text=text, quantity=quantity, order_id=order_id,
            order_status=order_status, reject_reason=reject_reason,
        ))

    def _policy(self, verdicts: list[GuardVerdict], action: SignalAction | None) -> PolicyOutcome:
        if verdicts:
            return evaluate_policy(verdicts, action, self._policy_settings)
        # Unguarded (guards off): the outcome depends on the action alone; worked out once.
        outcome = self._unguarded.get(action)
        if outcome is None:
            outcome = self._unguarded[action] = evaluate_policy((), action, self._policy_settings)
        return outcome

    async def _exits(self, symbol: str, price: Decimal) -> None:
        if self.portfolio.position(symbol) is None:
            return
        now = self.clock.now_ns()
        for intent in self.risk.check_exits(self.portfolio, symbol, price, now, self.state_machine.state):
            await self._exit(intent)

    async def _exit(self, intent: ExitIntent) -> None:
        request = intent.to_order_request()
        if request.client_order_id in self.outputs.orders:
            return
        await self._submit(request)

    async def _submit(self, request: OrderRequest) -> ExecutionReport:
        rules = self._rules.get(request.symbol)
        if rules is not None:
            # Binance refuses a quantity off the step size rather than rounding it: round down here.
            request = msgspec.structs.replace(request, quantity=rules.round_quantity(request.quantity, request.order_type))
        try:
            report = await self.broker.submit(request)
        except OrderRejected as error:
            report = rejected_report(request, error, self.clock.now_ns())
        self._book(report)
        return report

    def _book(self, report: ExecutionReport) -> None:
        order = report.order
        self.outputs.orders[order.client_order_id] = order
        self.metrics.order(order.side.value, order.status.value)
        for fill in report.fills:
            if self.portfolio.apply_fill(fill):
                self._account_moved = True
                self.outputs.fills.append(fill)
                self.metrics.fill(fill.side.value)
        self.outputs.account_changed = True

    # ---- guards and the account ------------------------------------------------------------

    def _assessment_due(self, symbol: str) -> bool:
        now = self.clock.now_ns()
        due = self._next_assessment.get(symbol)
        if due is not None and now < due:
            return False
        self._next_assessment[symbol] = now - now % self._guard_interval_ns + self._guard_interval_ns
        return due is not None

    async def _assess(self, symbol: str) -> None:
        guards = self.guards.get(symbol)
        if not guards:
            return  # guards off: nothing to assess, no position to close for them
        now = self.clock.now_ns()
        verdicts = [guard.verdict(now) for guard in guards]
        for verdict in verdicts:
            self.metrics.verdict(verdict.guard, verdict.level.name)
        policy = evaluate_policy(verdicts, None, self._policy_settings)
        self.outputs.assessments[symbol] = SymbolAssessment(
            symbol=symbol, ts=now, level=policy.level, action=policy.action.value,
            recommendation=policy.recommendation, reasons=tuple(policy.reasons), verdicts=tuple(verdicts),
        )
        price = self.market.last_trade_price(symbol)
        if policy.close_position and price is not None:
            intent = self.risk.guard_exit(self.portfolio, symbol, price, now, policy.reasons, self.state_machine.state)
            if intent is not None:
                await self._exit(intent)

    def _watch_losses(self) -> None:
        if not self.state_machine.limits_losses:
            return  # no daily loss limit configured: there is nothing to watch
        self._record(self.state_machine.observe(self.portfolio, self.market.marks(), self.clock.now_ns()))

    def command(self, name: str, reason: str) -> None:
        """Applies an operator command (halt / reduce / resume) at the engine's time."""
        now = self.clock.now_ns()
        if name == "resume":
            self._record(self.state_machine.resume(now, reason=reason))
        elif name == "halt":
            self._record(self.state_machine.halt(reason, now))
        else:
            self._record(self.state_machine.reduce(reason, now))

    def _record(self, transition: StateTransition | None) -> None:
        if transition is not None:
            self.outputs.state_changes.append(StateChange(
                ts=transition.ts, previous=transition.previous.value, state=transition.state.value,
                cause=transition.cause, reason=transition.reason,
            ))
            self.outputs.account_changed = True
