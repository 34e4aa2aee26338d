"""RiskManager: turns a strategy's signal into an approved, sized order or a reasoned denial, and
watches open positions for their stop-loss and take-profit.

Order of checks for a signal (the first that fails decides the reason):
  HOLD -> hold; HALTED -> halted; SELL: no position -> no_position, else close all of it.
  BUY: REDUCING -> reducing_only_exits; policy AVOID -> guard_avoid; stop-loss cooldown ->
  cooldown; symbol not quoted in the quote asset -> unsupported_symbol; a new symbol beyond
  max_open_positions -> max_open_positions; then sizing, shrunk by the policy's multiplier and
  capped by max_position_value, max_total_exposure and the cash (fee reserved). A cap that leaves
  less than min_order_value denies with that cap's reason instead of sending dust.

SELL is allowed under AVOID and REDUCING on purpose: leaving a market the guards distrust is
what they would want. The policy's multiplier is clamped to [0, 1]: guards may shrink an entry,
never enlarge it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import msgspec

from bot.domain.trading import Position, Side, Signal, SignalAction, TradingState
from bot.risk.decisions import (
    ExitIntent,
    ExitReason,
    PolicyAction,
    PolicyLike,
    RiskDecision,
    RiskReason,
)
from bot.risk.money import ZERO, add, divide, divide_down, multiply, subtract
from bot.risk.portfolio import Portfolio, PortfolioError
from bot.risk.settings import AllCashSizing, EquityFractionSizing, RiskSettings

ONE = Decimal(1)
HUNDRED = Decimal(100)
SNAPSHOT_VERSION = 1


class RiskManagerSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    cooldown_until_ns: dict[str, int]


class RiskManager:
    def __init__(self, settings: RiskSettings) -> None:
        self._settings = settings
        # symbol -> end of its stop-loss cooldown (ns). Kept after it ends; harmless and tiny.
        self._cooldown_until_ns: dict[str, int] = {}

    @property
    def settings(self) -> RiskSettings:
        return self._settings

    def cooldown_until(self, symbol: str) -> int | None:
        return self._cooldown_until_ns.get(symbol)

    # ----- signals ------------------------------------------------------------------------------

    def assess(
        self,
        signal: Signal,
        policy: PolicyLike,
        portfolio: Portfolio,
        price: Decimal,
        now_ns: int,
        trading_state: TradingState,
        marks: Mapping[str, Decimal] | None = None,
    ) -> RiskDecision:
        """Decide on `signal` at `price`. `marks` are the latest prices of other held symbols,
        used for equity and total exposure; a held symbol without one counts at cost."""
        if price <= 0:
            raise ValueError(f"price of {signal.symbol} must be > 0, got {price}")
        decide = _DecisionMaker(signal, price, now_ns)
        if signal.action is SignalAction.HOLD:
            return decide.deny(RiskReason.HOLD, f"{signal.strategy} holds: {signal.reason or 'no reason given'}")
        if trading_state is TradingState.HALTED:
            return decide.deny(RiskReason.HALTED, "trading is halted: every order is refused")
        if signal.action is SignalAction.SELL:
            position = portfolio.position(signal.symbol)
            if position is None:
                return decide.deny(RiskReason.NO_POSITION, f"no {signal.symbol} position to sell")
            return decide.approve(position.quantity, f"close the whole position: {position.quantity} {signal.symbol} at ~{price}", reduce_only=True)
        return self._assess_buy(decide, policy, portfolio, price, now_ns, trading_state, dict(marks or {}))

    def _assess_buy(
        self,
        decide: _DecisionMaker,
        policy: PolicyLike,
        portfolio: Portfolio,
        price: Decimal,
        now_ns: int,
        trading_state: TradingState,
        marks: dict[str, Decimal],
    ) -> RiskDecision:
        settings, symbol = self._settings, decide.signal.symbol
        if trading_state is TradingState.REDUCING:
            return decide.deny(RiskReason.REDUCING_ONLY_EXITS, "trading is reducing: only exits are allowed")
        # By value, so the guards' own enum (StrEnum or plain Enum) or a bare string all work.
        action = PolicyAction(getattr(policy.action, "value", policy.action))
        if action is PolicyAction.AVOID:
            return decide.deny(RiskReason.GUARD_AVOID, f"guards advise avoiding {symbol}")
        cooldown_until = self._cooldown_until_ns.get(symbol)
        if cooldown_until is not None and now_ns < cooldown_until:
            seconds_left = -(-(cooldown_until - now_ns) // 1_000_000_000)
            return decide.deny(RiskReason.COOLDOWN, f"{symbol} was stopped out; no entry for another {seconds_left} s")
        try:
            portfolio.base_asset(symbol)
        except PortfolioError as error:
            return decide.deny(RiskReason.UNSUPPORTED_SYMBOL, str(error))
        is_new = portfolio.position(symbol) is None
        if is_new and portfolio.open_position_count >= settings.max_open_positions:
            return decide.deny(RiskReason.MAX_OPEN_POSITIONS, f"{portfolio.open_position_count} positions open, the limit is {settings.max_open_positions}")

        marks[symbol] = price
        cash_for_entry = divide_down(portfolio.cash(), add(ONE, settings.fee_rate))
        if isinstance(settings.sizing, AllCashSizing):
            base_value = cash_for_entry
            sizing_text = f"all cash {portfolio.cash()} less the fee"
        elif isinstance(settings.sizing, EquityFractionSizing):
            base_value = multiply(portfolio.equity(marks), settings.sizing.fraction)
            sizing_text = f"{settings.sizing.fraction} of equity {portfolio.equity(marks)}"
        else:
            base_value = settings.sizing.amount
            sizing_text = f"fixed {base_value} {settings.quote_asset}"
        multiplier = min(max(Decimal(policy.size_multiplier), ZERO), ONE)
        target = multiply(base_value, multiplier)
        if multiplier != ONE:
            sizing_text += f" x guard multiplier {multiplier} ({action})"
        if target <= 0:
            return decide.deny(RiskReason.GUARD_SIZE_ZERO, f"guards shrink the entry to nothing ({action}, multiplier {multiplier})")

        rooms: list[tuple[RiskReason, Decimal]] = []
        if settings.max_position_value is not None:
            rooms.append((RiskReason.MAX_POSITION_VALUE, subtract(settings.max_position_value, portfolio.exposure(symbol, marks))))
        if settings.max_total_exposure is not None:
            rooms.append((RiskReason.MAX_TOTAL_EXPOSURE, subtract(settings.max_total_exposure, portfolio.total_exposure(marks))))
        rooms.append((RiskReason.INSUFFICIENT_CASH, cash_for_entry))

        value, capped_by = target, []
        for reason, room in rooms:
            if room < target:
                capped_by.append(reason)
            value = min(value, room)
        if value < settings.min_order_value or value <= 0:
            if not capped_by:
                return decide.deny(RiskReason.BELOW_MIN_ORDER_VALUE, f"entry of {value} {settings.quote_asset} ({sizing_text}) is below the minimum {settings.min_order_value}")
            tightest = min(rooms, key=lambda reason_room: reason_room[1])
            room_left = max(tightest[1], ZERO)
            return decide.deny(tightest[0], f"{tightest[0]} leaves room for {room_left} {settings.quote_asset}, below the minimum order {settings.min_order_value}")
        quantity = divide_down(value, price)
        caps_text = f", capped by {', '.join(capped_by)}" if capped_by else ""
        # All cash is spent as a quote amount, fee included, so the quantity follows the fill price.
        quote_amount = multiply(value, add(ONE, settings.fee_rate)) if isinstance(settings.sizing, AllCashSizing) else None
        if quote_amount is not None and not capped_by:
            quote_amount = portfolio.cash()
        return decide.approve(
            quantity, f"buy {quantity} {symbol} (~{value} {settings.quote_asset}: {sizing_text}{caps_text})",
            capped_by=tuple(capped_by), quote_order_quantity=quote_amount,
        )

    # ----- exits -----------------------------------------------------------------------------------

    def check_exits(
        self,
        portfolio: Portfolio,
        symbol: str,
        price: Decimal,
        now_ns: int,
        trading_state: TradingState = TradingState.ACTIVE,
    ) -> list[ExitIntent]:
        """Stop-loss and take-profit of the position in `symbol` at `price`. A position's own
        stop/take-profit price (the strategy's) wins over the settings' percentages. A stop-loss
        starts the symbol's cooldown. HALTED returns nothing: the kill switch stops every order,
        exits included."""
        position = portfolio.position(symbol)
        if position is None or trading_state is TradingState.HALTED:
            return []
        stop_price = position.stop_price
        if stop_price is None and self._settings.stop_loss_pct is not None:
            stop_price = multiply(position.average_price, subtract(ONE, divide(self._settings.stop_loss_pct, HUNDRED)))
        take_profit_price = position.take_profit_price
        if take_profit_price is None and self._settings.take_profit_pct is not None:
            take_profit_price = multiply(position.average_price, add(ONE, divide(self._settings.take_profit_pct, HUNDRED)))
        if stop_price is not None and price <= stop_price:
            self._cooldown_until_ns[symbol] = now_ns + self._settings.stop_loss_cooldown_ns
            reason, level = ExitReason.STOP_LOSS, stop_price
            text = f"{symbol} at {price} is at or below the stop {stop_price} (entry {position.average_price})"
        elif take_profit_price is not None and price >= take_profit_price:
            reason, level = ExitReason.TAKE_PROFIT, take_profit_price
            text = f"{symbol} at {price} reached the take-profit {take_profit_price} (entry {position.average_price})"
        else:
            return []
        return [_exit_intent(position, reason, text, price, level, now_ns)]

    def guard_exit(
        self, portfolio: Portfolio, symbol: str, price: Decimal, now_ns: int, reasons: tuple[str, ...],
        trading_state: TradingState = TradingState.ACTIVE,
    ) -> ExitIntent | None:
        """Closing the position in `symbol` because its guards went CRITICAL (the policy asked
        for it); None without a position, or when HALTED (the kill switch stops exits too)."""
        position = portfolio.position(symbol)
        if position is None or trading_state is TradingState.HALTED:
            return None
        return _exit_intent(position, ExitReason.GUARD, "; ".join(reasons), price, price, now_ns)

    # ----- persistence -------------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        return msgspec.json.encode(RiskManagerSnapshot(version=SNAPSHOT_VERSION, cooldown_until_ns=dict(sorted(self._cooldown_until_ns.items()))))

    @classmethod
    def restore(cls, settings: RiskSettings, data: bytes | str) -> RiskManager:
        saved = msgspec.json.decode(data, type=RiskManagerSnapshot)
        if saved.version != SNAPSHOT_VERSION:
            raise ValueError(f"risk manager snapshot version {saved.version} is not {SNAPSHOT_VERSION}")
        manager = cls(settings)
        manager._cooldown_until_ns = dict(saved.cooldown_until_ns)
        return manager


class _DecisionMaker:
    """Fills in the fields every decision on one signal shares."""

    def __init__(self, signal: Signal, price: Decimal, now_ns: int) -> None:
        self.signal, self._price, self._now_ns = signal, price, now_ns

    def _decision(self, **fields: object) -> RiskDecision:
        signal = self.signal
        return RiskDecision(
            symbol=signal.symbol,
            price=self._price,
            ts=self._now_ns,
            strategy=signal.strategy,
            trigger=signal.trigger,
            stop_price=signal.stop_price,
            take_profit_price=signal.take_profit_price,
            **fields,  # type: ignore[arg-type]
        )

    def deny(self, reason: RiskReason, text: str) -> RiskDecision:
        action = self.signal.action
        side = None if action is SignalAction.HOLD else Side(action)
        return self._decision(approved=False, side=side, quantity=ZERO, reason=reason, text=text)

    def approve(
        self, quantity: Decimal, text: str, reduce_only: bool = False, capped_by: tuple[RiskReason, ...] = (),
        quote_order_quantity: Decimal | None = None,
    ) -> RiskDecision:
        return self._decision(
            quote_order_quantity=quote_order_quantity,
            approved=True,
            side=Side(self.signal.action),
            quantity=quantity,
            reason=RiskReason.APPROVED,
            text=text,
            reduce_only=reduce_only,
            capped_by=capped_by,
        )


def _exit_intent(position: Position, reason: ExitReason, text: str, price: Decimal, trigger_price: Decimal, now_ns: int) -> ExitIntent:
    """The trigger `<reason>:<ts_opened>` is the same for every check of one position, so the
    client order id repeats and a repeated exit cannot become a second order."""
    return ExitIntent(
        symbol=position.symbol, side=Side.SELL, quantity=position.quantity, reason=reason, text=text,
        price=price, trigger_price=trigger_price, ts=now_ns, trigger=f"{reason}:{position.ts_opened}",
    )
