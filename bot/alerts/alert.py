"""The alert type and the two sinks every deployment has: the log and a Redis stream.

The daemon sends alerts through `bot.alerts.dispatcher.AlertDispatcher`, which fans them out to
Telegram, webhooks, apprise and the Redis stream (as a channel); commands run outside the daemon
may use the stream directly. A sink that fails must not take the caller down: the alert is still
logged, and the failure is logged beside it.
"""

from __future__ import annotations

from typing import Protocol

import msgspec
import structlog
from redis.exceptions import RedisError

from bot.alerts.kinds import Severity

ALERT_STREAM_LENGTH = 10_000

log = structlog.get_logger("bot.alerts")


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # an AlertKind (bot.alerts.kinds)
    severity: Severity
    message: str
    at_ns: int
    details: dict[str, str] = {}


class AlertSink(Protocol):
    async def send(self, alert: Alert) -> None: ...


def log_alert(alert: Alert) -> None:
    emit = log.error if alert.severity == "critical" else log.warning if alert.severity == "warning" else log.info
    emit("alert", kind=alert.kind, severity=alert.severity, alert=alert.message, **alert.details)


class LogAlertSink:
    """Alerts as log lines only (no Redis): for commands run outside the daemon."""

    def __init__(self) -> None:
        self.sent: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        self.sent.append(alert)
        log_alert(alert)


class RedisAlertStream:
    """Every alert logged and appended to `<namespace>:alerts` (bounded), where `tradebot status`,
    the HTTP API and the notification sinks read them."""

    name = "redis"

    def __init__(self, client, key: str) -> None:
        from bot.config.alerts import ChannelLimits

        self._client = client
        self.key = key
        # As a dispatcher channel: every alert, paced only by Redis itself, with room for a
        # flood (an XADD takes a fraction of a millisecond), so the stored record stays whole.
        self.limits = ChannelLimits(enabled=True, max_messages=10_000, per_seconds=1.0, queue_size=10_000)

    async def deliver(self, alert: Alert) -> None:
        """As a dispatcher channel (the dispatcher has logged the alert already)."""
        from bot.alerts.channel import DeliveryError

        try:
            await self._client.xadd(
                self.key, {"alert": msgspec.json.encode(alert)}, maxlen=ALERT_STREAM_LENGTH, approximate=True
            )
        except (RedisError, OSError) as error:
            raise DeliveryError(f"Redis refused the alert: {error!r}") from error

    async def close(self) -> None:
        return None  # the daemon owns the connection

    async def send(self, alert: Alert) -> None:
        log_alert(alert)
        try:
            await self._client.xadd(
                self.key, {"alert": msgspec.json.encode(alert)}, maxlen=ALERT_STREAM_LENGTH, approximate=True
            )
        except Exception as error:  # noqa: BLE001 - an unreachable Redis must not hide the alert
            log.error("alert not stored", kind=alert.kind, key=self.key, error=repr(error))
