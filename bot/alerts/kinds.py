"""Every kind of alert the bot sends, with its severity.

A kind is the unit an operator switches on or off (`alerts.kinds`); the severity is fixed per kind
(a trading-state change to HALTED is the one kind whose severity depends on the event) so a
channel's `min_severity` means the same thing everywhere.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


class AlertKind(StrEnum):
    ORDER_PLACED = "order_placed"  # an order accepted and resting (a limit order not yet filled)
    ORDER_FILLED = "order_filled"
    ORDER_REJECTED = "order_rejected"
    GUARD_HIGH = "guard_high"  # a symbol's guard level rose to HIGH
    GUARD_CRITICAL = "guard_critical"
    TRADING_STATE_CHANGED = "trading_state_changed"  # ACTIVE / REDUCING / HALTED (the kill switch)
    MODEL_PROMOTED = "model_promoted"
    MODEL_REJECTED = "model_rejected"  # the daemon refused a published version (the "refused" alert)
    MODEL_NOT_PROMOTED = "model_not_promoted"  # the nightly gate kept the current model
    MODEL_STALE = "model_stale"
    NIGHTLY_FAILED = "nightly_failed"
    STREAM_STALE = "stream_stale"  # streams silent (or their connection down) past a limit
    STREAM_RECOVERED = "stream_recovered"
    DAEMON_STARTED = "daemon_started"
    DAEMON_STOPPING = "daemon_stopping"
    DAILY_SUMMARY = "daily_summary"


SEVERITY: dict[AlertKind, Severity] = {
    AlertKind.ORDER_PLACED: "info",
    AlertKind.ORDER_FILLED: "info",
    AlertKind.ORDER_REJECTED: "warning",
    AlertKind.GUARD_HIGH: "warning",
    AlertKind.GUARD_CRITICAL: "critical",
    AlertKind.TRADING_STATE_CHANGED: "warning",  # critical when the new state is HALTED
    AlertKind.MODEL_PROMOTED: "info",
    AlertKind.MODEL_REJECTED: "warning",
    AlertKind.MODEL_NOT_PROMOTED: "warning",
    AlertKind.MODEL_STALE: "warning",
    AlertKind.NIGHTLY_FAILED: "critical",
    AlertKind.STREAM_STALE: "warning",
    AlertKind.STREAM_RECOVERED: "info",
    AlertKind.DAEMON_STARTED: "info",
    AlertKind.DAEMON_STOPPING: "warning",  # planned or not, the bot stops trading
    AlertKind.DAILY_SUMMARY: "info",
}
