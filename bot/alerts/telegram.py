"""Telegram's Bot API, spoken directly over aiohttp: `sendMessage` for alerts and replies,
`getUpdates` for commands (bot.alerts.telegram_commands).

Why not apprise for Telegram: its base URL is fixed (tests and self-hosted Bot API servers need
another), it retries on its own without honouring `retry_after`, and commands need getUpdates,
which it does not offer. apprise still serves every other service (bot.alerts.apprise_channel).

One channel per chat: Telegram's limits are per chat (about 20 messages a minute into a group),
and a chat that blocked the bot must not hold up the others.
"""

from __future__ import annotations

import aiohttp

from bot.alerts.alert import Alert
from bot.alerts.channel import DeliveryError, alert_text
from bot.config.alerts import TelegramSettings


class TelegramApi:
    """The few Bot API methods used; errors become DeliveryError with Telegram's retry_after."""

    def __init__(self, settings: TelegramSettings, session: aiohttp.ClientSession) -> None:
        assert settings.bot_token is not None
        self._base = f"{settings.api_base_url}/bot{settings.bot_token.get_secret_value()}"
        self._session = session

    async def call(self, method: str, payload: dict, timeout_seconds: float | None = None) -> object:
        timeout = aiohttp.ClientTimeout(total=timeout_seconds) if timeout_seconds is not None else None
        try:
            async with self._session.post(f"{self._base}/{method}", json=payload, timeout=timeout) as response:
                try:
                    answer = await response.json(content_type=None)
                except ValueError:
                    answer = None
                status = response.status
        except aiohttp.ClientError as error:
            # The URL holds the token: say only which method failed and why.
            raise DeliveryError(f"telegram {method}: {type(error).__name__}") from None
        if isinstance(answer, dict) and answer.get("ok") is True:
            return answer.get("result")
        description = answer.get("description", "") if isinstance(answer, dict) else ""
        parameters = answer.get("parameters") if isinstance(answer, dict) else None
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        if status == 429 or retry_after is not None:
            raise DeliveryError(f"telegram {method}: 429 {description}", retry_after=float(retry_after or 1))
        # 400 (bad chat id, message), 401 (bad token), 403 (bot blocked), 404: the same request fails again.
        raise DeliveryError(f"telegram {method}: HTTP {status} {description}".rstrip(), retryable=status >= 500)

    async def send_message(self, chat_id: int, text: str) -> None:
        await self.call("sendMessage", {"chat_id": chat_id, "text": text, "disable_web_page_preview": True})


class TelegramChannel:
    def __init__(self, settings: TelegramSettings, api: TelegramApi, chat_id: int) -> None:
        self.name = f"telegram:{chat_id}"
        self.limits = settings
        self._api = api
        self.chat_id = chat_id

    async def deliver(self, alert: Alert) -> None:
        await self._api.send_message(self.chat_id, alert_text(alert))

    async def close(self) -> None:
        return None
