"""The alert type and the two sinks every deployment has: the log and a Redis stream.

Telegram and webhook sinks (issue 6) implement the same `AlertSink`. A sink that fails must not
take the caller down: the alert is still logged, and the failure is logged beside it.
"""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec
import structlog

Severity = Literal["info", "warning", "critical"]
ALERT_STREAM_LENGTH = 10_000

log = structlog.get_logger("bot.alerts")


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # e.g. "model_rejected", "model_stale", "nightly_failed", "model_not_promoted"
    severity: Severity
    message: str
    at_ns: int
    details: dict[str, str] = {}


class AlertSink(Protocol):
    async def send(self, alert: Alert) -> None: ...


def _log(alert: Alert) -> None:
    emit = log.error if alert.severity == "critical" else log.warning if alert.severity == "warning" else log.info
    emit("alert", kind=alert.kind, severity=alert.severity, alert=alert.message, **alert.details)


class LogAlertSink:
    """Alerts as log lines only (no Redis): for commands run outside the daemon."""

    def __init__(self) -> None:
        self.sent: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        self.sent.append(alert)
        _log(alert)


class RedisAlertStream:
    """Every alert logged and appended to `<namespace>:alerts` (bounded), where `tradebot status`,
    the HTTP API and the notification sinks read them."""

    def __init__(self, client, key: str) -> None:
        self._client = client
        self.key = key

    async def send(self, alert: Alert) -> None:
        _log(alert)
        try:
            await self._client.xadd(
                self.key, {"alert": msgspec.json.encode(alert)}, maxlen=ALERT_STREAM_LENGTH, approximate=True
            )
        except Exception as error:  # noqa: BLE001 - an unreachable Redis must not hide the alert
            log.error("alert not stored", kind=alert.kind, key=self.key, error=repr(error))
