"""Every other notification service through apprise (Slack, Discord, e-mail, Matrix, ntfy, ...),
configured by its URLs (`TRADEBOT_ALERTS__APPRISE__URLS`, e.g. "discord://id/token").

apprise is synchronous (requests underneath): delivery runs in a worker thread so the event loop
never waits on it; the dispatcher's time-out bounds how long the channel waits for the thread.
"""

from __future__ import annotations

import asyncio
import re

from bot.alerts.alert import Alert
from bot.alerts.channel import DeliveryError, alert_text
from bot.config.alerts import AppriseSettings


class AppriseChannel:
    name = "apprise"

    def __init__(self, settings: AppriseSettings) -> None:
        import apprise  # imported here: only a deployment that uses it pays its import time

        assert settings.urls is not None
        self.limits = settings
        self._apprise = apprise.Apprise()
        for url in re.split(r"[\s,]+", settings.urls.get_secret_value().strip()):
            if url and not self._apprise.add(url):
                # The URL carries a token: name its scheme only.
                raise ValueError(f"apprise does not understand a URL of scheme {url.split(':', 1)[0]!r}")

    async def deliver(self, alert: Alert) -> None:
        title = f"tradebot {alert.severity}: {alert.kind}"
        delivered = await asyncio.to_thread(self._apprise.notify, body=alert_text(alert), title=title)
        if not delivered:
            raise DeliveryError("apprise could not deliver to every URL (apprise logs which)")

    async def close(self) -> None:
        return None
