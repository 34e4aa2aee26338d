"""Builds the alert dispatcher and its channels from settings, for the daemon and the scheduler.

`AlertService` owns the HTTP session the channels share, the dispatcher's workers and, when
Telegram commands are on, the getUpdates poller. Its `close(seconds)` is the shutdown hook that
delivers what is queued within the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import redis.asyncio as redis
import structlog

from bot.alerts.alert import Alert, RedisAlertStream
from bot.alerts.apprise_channel import AppriseChannel
from bot.alerts.channel import Channel
from bot.alerts.dispatcher import AlertDispatcher
from bot.alerts.kinds import SEVERITY, AlertKind
from bot.alerts.metrics import AlertMetrics
from bot.alerts.sources import DailySummary, EngineAlerts, StreamHealthAlerts
from bot.alerts.telegram import TelegramApi, TelegramChannel
from bot.alerts.telegram_commands import TelegramCommands
from bot.alerts.webhook import WebhookChannel
from bot.bus.redis_keys import RedisKeys
from bot.clock import Clock
from bot.config import Settings

log = structlog.get_logger("bot.alerts")


class AlertService:
    def __init__(self, settings: Settings, client: redis.Redis, keys: RedisKeys, clock: Clock, metrics: AlertMetrics) -> None:
        self.settings = settings
        self._client = client
        self._keys = keys
        self._clock = clock
        self.metrics = metrics
        self.session: aiohttp.ClientSession | None = None
        self.dispatcher: AlertDispatcher | None = None
        self.telegram_api: TelegramApi | None = None
        self.commands: TelegramCommands | None = None
        self._tasks: list[asyncio.Task] = []

    async def start(self, queries=None) -> AlertDispatcher:
        """Builds the channels and starts their workers (and the command poller, given the queries
        it answers /status and /positions from: bot.http.queries.TradingQueries)."""
        alerts = self.settings.alerts
        timeout = aiohttp.ClientTimeout(total=alerts.request_timeout_seconds)
        self.session = aiohttp.ClientSession(timeout=timeout)
        channels: list[Channel] = [RedisAlertStream(self._client, self._keys.alerts())]
        telegram = alerts.telegram
        if telegram.enabled:
            self.telegram_api = TelegramApi(telegram, self.session)
            channels.extend(TelegramChannel(telegram, self.telegram_api, chat_id) for chat_id in telegram.chat_ids)
        secret = alerts.webhook_signing_secret.get_secret_value().encode() if alerts.webhook_signing_secret else None
        channels.extend(
            WebhookChannel(webhook, self.session, self._clock, secret) for webhook in alerts.webhooks if webhook.enabled
        )
        if alerts.apprise.enabled:
            channels.append(AppriseChannel(alerts.apprise))
        self.dispatcher = AlertDispatcher(alerts, channels, self._clock, self.metrics)
        self.dispatcher.start()
        if self.telegram_api is not None and telegram.commands_enabled and queries is not None:
            self.commands = TelegramCommands(telegram, self.telegram_api, self._client, self._keys, queries)
            self._tasks.append(asyncio.create_task(self.commands.run(), name="telegram-commands"))
        log.info("alert channels ready", channels=[worker.channel.name for worker in self.dispatcher.workers],
                 telegram_commands=self.commands is not None)
        return self.dispatcher

    def announce(self, kind: AlertKind, message: str, **details: str) -> None:
        """An alert of the daemon's own (started, stopping), with its kind's severity."""
        assert self.dispatcher is not None
        self.dispatcher.publish(Alert(kind=kind.value, severity=SEVERITY[kind], message=message,
                                      at_ns=self._clock.now_ns(), details=details))

    def watch(self, runner, stream_client) -> None:
        """Feeds the dispatcher from the engine's commits (and the daily summary), when an engine
        runs, and from the streams' health, when ingest runs; the sources stop with the service."""
        assert self.dispatcher is not None
        publish = self.dispatcher.publish
        alerts = self.settings.alerts
        if runner is not None:
            engine_alerts = EngineAlerts(publish, self._clock)
            runner.commit_listeners.append(engine_alerts.after_commit)
            if (minute := alerts.daily_summary_minute) is not None:
                summary = DailySummary(self._client, self._keys, publish, self._clock, minute, lambda: engine_alerts.guard_counts)
                self._run_beside(summary.run(), "daily-summary")
        if stream_client is not None:
            health = StreamHealthAlerts(stream_client.stale_streams, publish, self._clock, alerts.stream_stale_limit_seconds)
            self._run_beside(health.run(), "stream-health")

    def _run_beside(self, coroutine, name: str) -> None:
        self._tasks.append(asyncio.create_task(coroutine, name=name))

    async def close(self, seconds: float) -> None:
        """Delivers what is queued within `seconds` (less a moment to close connections), then
        stops; idempotent, so a second call after the first is a no-op."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.dispatcher is not None:
            await self.dispatcher.close(max(0.0, seconds - min(0.5, seconds / 4)))
        if self.session is not None:
            with contextlib.suppress(Exception):
                await self.session.close()
            self.session = None
