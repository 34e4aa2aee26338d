"""What the engine writes down: one `Decision` per strategy signal, and the batch of changes
(`EngineOutputs`) the ledger commits together with the acknowledgement of the entries that
caused them.

Decisions hold only values derived from the record (no wall-clock time), so two runs over the
same record produce byte-identical decisions.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from bot.domain.trading import Fill, GuardLevel, GuardVerdict, Order, Recommendation, SignalAction


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """A strategy signal and everything that was decided about it."""

    ts: int
    symbol: str
    strategy: str
    action: SignalAction
    strength: float
    trigger: str
    reason: str
    # The market when deciding: the price and the feature spec's values on the last closed bar.
    price: Decimal | None
    features: dict[str, float | None] | None
    # Guards: the worst level, the policy's action and the reasons above NORMAL.
    guard_level: GuardLevel
    guard_action: str
    guard_reasons: tuple[str, ...]
    # Risk: approved or the reason code it was denied with, and the quantity it sized.
    risk_outcome: str
    risk_text: str
    quantity: Decimal | None
    # The order placed, if any, and how the broker answered.
    order_id: str | None = None
    order_status: str | None = None
    reject_reason: str | None = None


class SymbolAssessment(msgspec.Struct, frozen=True, kw_only=True):
    """The guards' latest view of one symbol, stored per symbol for users and the scanner."""

    symbol: str
    ts: int
    level: GuardLevel
    action: str
    recommendation: Recommendation
    reasons: tuple[str, ...]
    verdicts: tuple[GuardVerdict, ...]


class StateChange(msgspec.Struct, frozen=True, kw_only=True):
    ts: int
    previous: str
    state: str
    cause: str
    reason: str


class EngineOutputs:
    """Everything one batch of events changed, collected until the ledger commits it."""

    def __init__(self) -> None:
        self.decisions: list[Decision] = []
        self.orders: dict[str, Order] = {}
        self.fills: list[Fill] = []
        self.assessments: dict[str, SymbolAssessment] = {}
        self.state_changes: list[StateChange] = []
        self.account_changed = False

    def __bool__(self) -> bool:
        return bool(self.decisions or self.orders or self.fills or self.assessments or self.state_changes or self.account_changed)
