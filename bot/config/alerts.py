"""Settings of the alert channels (Telegram, webhooks, apprise) and of the alert kinds.

Secrets (the Telegram bot token, the webhook signing key, apprise URLs, which embed tokens) come
only from the environment (TRADEBOT_ALERTS__TELEGRAM__BOT_TOKEN, ..._FILE); the loader refuses
them in a settings file.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, PositiveFloat, PositiveInt, SecretStr, field_validator, model_validator

from bot.alerts.kinds import AlertKind
from bot.config.sections import SectionModel, _check_url

MinimumSeverity = Literal["info", "warning", "critical"]
_TIME_OF_DAY = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_WEBHOOK_NAME = re.compile(r"[a-z0-9_-]{1,40}")


class ChannelLimits(SectionModel):
    """What every channel shares: which alerts it takes and how fast it may send them."""

    enabled: bool = False
    min_severity: MinimumSeverity = "info"
    # At most `max_messages` in any window of `per_seconds` (a sliding window, never exceeded).
    max_messages: PositiveInt = 20
    per_seconds: PositiveFloat = 60.0
    # Alerts that may wait for this channel; null: alerts.queue_size.
    queue_size: Annotated[int, Field(ge=1, le=100_000)] | None = None


class TelegramSettings(ChannelLimits):
    bot_token: SecretStr | None = None
    # Chats the alerts go to (a user's id, or a group's negative id).
    chat_ids: tuple[int, ...] = ()
    # Telegram's Bot API; another base URL serves a local Bot API server (or a test's stand-in).
    api_base_url: str = "https://api.telegram.org"
    # Telegram allows a bot about 20 messages a minute into one group: the default stays under it.
    max_messages: PositiveInt = 20
    per_seconds: PositiveFloat = 60.0
    # Answer /status /positions /pause /resume /halt from these chats (default: chat_ids). Every
    # other chat is ignored and logged.
    commands_enabled: bool = True
    allowed_chat_ids: tuple[int, ...] | None = None
    # getUpdates long-poll time: Telegram holds the request open this long when nothing is new.
    poll_timeout_seconds: Annotated[int, Field(ge=0, le=50)] = 25

    @field_validator("api_base_url")
    @classmethod
    def _base_url_is_http(cls, url: str) -> str:
        return _check_url(url, ("https", "http"))

    @model_validator(mode="after")
    def _token_and_chats_when_enabled(self) -> "TelegramSettings":
        if self.enabled and self.bot_token is None:
            raise ValueError("telegram is enabled but has no bot_token: set TRADEBOT_ALERTS__TELEGRAM__BOT_TOKEN (or ..._FILE)")
        if self.enabled and not self.chat_ids:
            raise ValueError("telegram is enabled but chat_ids is empty: name the chats alerts go to")
        return self

    @property
    def command_chat_ids(self) -> frozenset[int]:
        return frozenset(self.chat_ids if self.allowed_chat_ids is None else self.allowed_chat_ids)


class WebhookSettings(ChannelLimits):
    name: str
    url: str
    enabled: bool = True
    max_messages: PositiveInt = 60
    per_seconds: PositiveFloat = 60.0

    @field_validator("name")
    @classmethod
    def _name_is_a_label(cls, name: str) -> str:
        # It becomes a metric label value (channel="webhook:<name>").
        if not _WEBHOOK_NAME.fullmatch(name):
            raise ValueError(f"use 1-40 of a-z, 0-9, '_' and '-', got {name!r}")
        return name

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, url: str) -> str:
        return _check_url(url, ("https", "http"))


class AppriseSettings(ChannelLimits):
    # One or more apprise URLs (Slack, Discord, e-mail, ...: https://github.com/caronc/apprise),
    # separated by spaces or commas. They embed tokens, so they are a secret.
    urls: SecretStr | None = None

    @model_validator(mode="after")
    def _urls_when_enabled(self) -> "AppriseSettings":
        if self.enabled and (self.urls is None or not self.urls.get_secret_value().strip()):
            raise ValueError("apprise is enabled but has no urls: set TRADEBOT_ALERTS__APPRISE__URLS (or ..._FILE)")
        return self


class AlertSettings(SectionModel):
    # Kinds switched off here are never sent (and counted as suppressed); a kind left out is on.
    kinds: dict[AlertKind, bool] = Field(default_factory=dict)
    # The same alert (kind and text) again within this window is sent once.
    dedup_window_seconds: Annotated[float, Field(ge=0)] = 300.0
    # Alerts waiting per channel; past it new ones are dropped (and counted), trading goes on.
    queue_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    # Delivery: attempts per alert, and the backoff between them (Telegram's retry_after wins).
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    backoff_initial_seconds: PositiveFloat = 1.0
    backoff_max_seconds: PositiveFloat = 60.0
    request_timeout_seconds: PositiveFloat = 10.0
    # A stream silent (or its connection down) this long is alerted once, and again when it recovers.
    stream_stale_limit_seconds: PositiveFloat = 120.0
    # UTC time of the daily summary (PnL, trades, equity, guard counts); null: none.
    daily_summary_at: str | None = "00:00"
    # HMAC-SHA256 key signing every webhook body (header X-Tradebot-Signature); environment only.
    webhook_signing_secret: SecretStr | None = None
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    webhooks: tuple[WebhookSettings, ...] = ()
    apprise: AppriseSettings = Field(default_factory=AppriseSettings)

    @field_validator("daily_summary_at")
    @classmethod
    def _time_of_day(cls, value: str | None) -> str | None:
        if value is not None and not _TIME_OF_DAY.fullmatch(value):
            raise ValueError(f"expected HH:MM (UTC, 24-hour), got {value!r}")
        return value

    @field_validator("webhooks")
    @classmethod
    def _unique_names(cls, webhooks: tuple[WebhookSettings, ...]) -> tuple[WebhookSettings, ...]:
        names = [webhook.name for webhook in webhooks]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"webhook name {duplicated[0]!r} is used twice; names label the metrics")
        return webhooks

    def kind_enabled(self, kind: str) -> bool:
        return self.kinds.get(kind, True)  # type: ignore[call-overload]  # AlertKind is a str

    @property
    def daily_summary_minute(self) -> int | None:
        """Minutes after UTC midnight of the daily summary."""
        if self.daily_summary_at is None:
            return None
        hours, minutes = self.daily_summary_at.split(":")
        return int(hours) * 60 + int(minutes)
