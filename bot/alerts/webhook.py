"""Generic webhooks: each alert as a JSON POST, signed so the receiver can tell it came from us.

Signature (when `alerts.webhook_signing_secret` is set), the same scheme as Stripe's and Slack's:
    X-Tradebot-Timestamp: <unix seconds when sent>
    X-Tradebot-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body, keyed by the secret>
Signing the timestamp with the body lets a receiver refuse a replayed old request
(`verify_signature` checks both, in constant time).
"""

from __future__ import annotations

import hashlib
import hmac

import aiohttp
import msgspec

from bot.alerts.alert import Alert
from bot.alerts.channel import DeliveryError, alert_text, http_retry_after
from bot.clock import Clock
from bot.config.alerts import WebhookSettings

SIGNATURE_HEADER = "X-Tradebot-Signature"
TIMESTAMP_HEADER = "X-Tradebot-Timestamp"
_NANOSECONDS = 1_000_000_000


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(
    secret: bytes, timestamp: str, body: bytes, signature: str, now_seconds: float, tolerance_seconds: float = 300.0,
) -> bool:
    """What a receiver runs: the signature matches and the timestamp is recent."""
    try:
        sent = float(timestamp)
    except ValueError:
        return False
    if abs(now_seconds - sent) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode())


def webhook_body(alert: Alert) -> bytes:
    return msgspec.json.encode({
        "source": "tradebot", "kind": alert.kind, "severity": alert.severity, "message": alert.message,
        "at_ns": alert.at_ns, "details": alert.details, "text": alert_text(alert),
    })


class WebhookChannel:
    def __init__(self, settings: WebhookSettings, session: aiohttp.ClientSession, clock: Clock, secret: bytes | None) -> None:
        self.name = f"webhook:{settings.name}"
        self.limits = settings
        self._url = settings.url
        self._session = session
        self._clock = clock
        self._secret = secret

    async def deliver(self, alert: Alert) -> None:
        body = webhook_body(alert)
        headers = {"Content-Type": "application/json", "User-Agent": "tradebot-alerts"}
        if self._secret is not None:
            timestamp = str(self._clock.now_ns() // _NANOSECONDS)
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        try:
            async with self._session.post(self._url, data=body, headers=headers) as response:
                if response.status < 300:
                    return
                retry_after = http_retry_after(response.headers.get("Retry-After"))
                # 408 and 429 are "later"; other 4xx mean this request will never be accepted.
                retryable = response.status >= 500 or response.status in (408, 429)
                raise DeliveryError(f"HTTP {response.status} from {self.name}", retryable=retryable, retry_after=retry_after)
        except aiohttp.ClientError as error:
            raise DeliveryError(f"{self.name} unreachable: {error!r}") from error

    async def close(self) -> None:
        return None  # the session is shared and closed by its owner
