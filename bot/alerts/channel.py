"""What a notification channel is, how its failures are told apart, and the text people read."""

from __future__ import annotations

from typing import Protocol

from bot.alerts.alert import Alert
from bot.config.alerts import ChannelLimits

_MARK = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}
# Telegram refuses a message over 4096 characters; webhook receivers have limits too.
MAX_TEXT_CHARACTERS = 4000


class DeliveryError(Exception):
    """A delivery that did not happen. `retryable`: a later attempt may succeed (time-out, 5xx,
    429); not: the same request will fail again (bad token, unknown chat, 4xx). `retry_after`:
    the receiver said when to come back (Telegram's `parameters.retry_after`, HTTP Retry-After)."""

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Channel(Protocol):
    name: str  # the metric label: "telegram:<chat id>", "webhook:<name>", "apprise", "redis"
    limits: ChannelLimits

    async def deliver(self, alert: Alert) -> None:
        """Sends one alert or raises DeliveryError; the worker retries, paces and counts."""
        ...

    async def close(self) -> None: ...


def alert_text(alert: Alert) -> str:
    """The alert as a person reads it on a phone: severity mark, kind, message, details."""
    lines = [f"{_MARK.get(alert.severity, '')} {alert.severity.upper()} · {alert.kind}", alert.message]
    lines.extend(f"{key}: {value}" for key, value in sorted(alert.details.items()) if value != "")
    text = "\n".join(lines)
    return text if len(text) <= MAX_TEXT_CHARACTERS else text[: MAX_TEXT_CHARACTERS - 1] + "…"


def http_retry_after(value: str | None) -> float | None:
    """Seconds from an HTTP Retry-After header given in seconds (the date form is not used by the
    receivers we talk to, and a wrong guess is worse than the configured backoff)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
