"""The alert dispatcher against real HTTP receivers on the loopback: signatures, rate limits under a
flood, retries and give-ups for failing or hanging receivers, Telegram's retry_after, isolation
between channels, suppression of duplicates and disabled kinds."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from alert_receivers import TOKEN, Receiver, most_in_any_window
from bot.alerts import Alert
from bot.alerts.dispatcher import AlertDispatcher
from bot.alerts.metrics import AlertMetrics
from bot.alerts.telegram import TelegramApi, TelegramChannel
from bot.alerts.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookChannel, sign, verify_signature
from bot.clock import WallClock
from bot.config.alerts import AlertSettings, TelegramSettings, WebhookSettings

SECRET = b"webhook-signing-secret"


def alert(number: int = 0, kind: str = "order_filled", severity: str = "info") -> Alert:
    return Alert(kind=kind, severity=severity, message=f"BUY 0.01 BTCUSDT at 61000.{number:02d} filled",
                 at_ns=1_723_161_240_000_000_000 + number, details={"symbol": "BTCUSDT", "number": str(number)})


@pytest.fixture
async def receivers():
    started: list[Receiver] = []

    async def make(**options) -> Receiver:
        receiver = await Receiver(**options).start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        await receiver.stop()


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def value(metrics: AlertMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def webhook(receiver: Receiver, session, name: str = "ops", **limits) -> WebhookChannel:
    settings = WebhookSettings(name=name, url=f"{receiver.url}/hook", **limits)
    return WebhookChannel(settings, session, WallClock(), SECRET)


def dispatcher(channels, **settings) -> tuple[AlertDispatcher, AlertMetrics]:
    metrics = AlertMetrics()
    options = {"backoff_initial_seconds": 0.05, "backoff_max_seconds": 0.1, **settings}
    result = AlertDispatcher(AlertSettings(**options), channels, WallClock(), metrics)
    result.start()
    return result, metrics


async def test_webhook_bodies_are_signed_and_the_signature_verifies(receivers, session):
    receiver = await receivers()
    alerts, metrics = dispatcher([webhook(receiver, session)])
    for number in range(3):
        assert alerts.publish(alert(number))
    assert await alerts.flush(5)
    await alerts.close(1)
    assert len(receiver.received) == 3
    now = time.time()
    for item in receiver.received:
        timestamp, signature = item.headers[TIMESTAMP_HEADER], item.headers[SIGNATURE_HEADER]
        assert signature == sign(SECRET, timestamp, item.body) and signature.startswith("sha256=")
        assert verify_signature(SECRET, timestamp, item.body, signature, now)
        assert not verify_signature(b"another secret", timestamp, item.body, signature, now)
        assert not verify_signature(SECRET, timestamp, item.body.replace(b"61000", b"99999"), signature, now)
        assert not verify_signature(SECRET, timestamp, item.body, signature, now + 3600)  # a replay an hour later
    assert [item.json["details"]["number"] for item in receiver.received] == ["0", "1", "2"]
    assert receiver.received[0].json["kind"] == "order_filled" and "BUY 0.01 BTCUSDT" in receiver.received[0].json["text"]
    assert value(metrics, "tradebot_alerts_sent_total", channel="webhook:ops") == 3


async def test_a_flood_of_1000_alerts_in_a_second_keeps_to_the_rate_and_counts_what_it_drops(receivers, session):
    receiver = await receivers()
    alerts, metrics = dispatcher([webhook(receiver, session, max_messages=10, per_seconds=1.0)], queue_size=25)
    started = time.monotonic()
    published = sum(alerts.publish(alert(number)) for number in range(1000))
    assert published == 1000 and time.monotonic() - started < 1.0  # publishing never waits on a channel
    await asyncio.sleep(2.6)
    times = [item.at for item in receiver.received]
    assert most_in_any_window(times, 1.0) <= 10, "the configured rate (10 per second) was exceeded"
    assert len(times) >= 20  # and the channel kept sending at that rate
    await alerts.close(0)
    sent = value(metrics, "tradebot_alerts_sent_total", channel="webhook:ops")
    full = value(metrics, "tradebot_alerts_dropped_total", channel="webhook:ops", reason="queue_full")
    at_shutdown = value(metrics, "tradebot_alerts_dropped_total", channel="webhook:ops", reason="shutdown")
    assert full == 1000 - 25  # the queue held 25; every other alert of the burst was counted as dropped
    assert sent == len(receiver.received) and sent + full + at_shutdown == 1000


async def test_a_failing_receiver_is_retried_then_dropped_and_the_others_are_not_held_up(receivers, session):
    failing, healthy = await receivers(mode="fail"), await receivers()
    alerts, metrics = dispatcher([webhook(failing, session, "down"), webhook(healthy, session, "up")], max_attempts=3)
    alerts.publish(alert())
    await asyncio.sleep(0.2)
    assert len(healthy.received) == 1  # delivered while the other channel is still retrying
    assert await alerts.flush(5)
    assert len(failing.attempts) == 3
    assert value(metrics, "tradebot_alerts_failed_total", channel="webhook:down") == 3
    assert value(metrics, "tradebot_alerts_dropped_total", channel="webhook:down", reason="gave_up") == 1
    assert value(metrics, "tradebot_alerts_sent_total", channel="webhook:up") == 1
    await alerts.close(1)


async def test_a_hanging_receiver_times_out_is_retried_then_dropped(receivers, session):
    hanging, healthy = await receivers(mode="hang"), await receivers()
    alerts, metrics = dispatcher([webhook(hanging, session, "stuck"), webhook(healthy, session, "up")],
                                 max_attempts=2, request_timeout_seconds=0.3)
    alerts.publish(alert(1))
    alerts.publish(alert(2))
    await asyncio.sleep(0.2)
    assert len(healthy.received) == 2
    assert await alerts.flush(5)
    assert len(hanging.attempts) == 4  # two alerts, two attempts each
    assert value(metrics, "tradebot_alerts_failed_total", channel="webhook:stuck") == 4
    assert value(metrics, "tradebot_alerts_dropped_total", channel="webhook:stuck", reason="gave_up") == 2
    await alerts.close(1)


def telegram_settings(receiver: Receiver, **options) -> TelegramSettings:
    return TelegramSettings(enabled=True, bot_token=TOKEN, chat_ids=(42,), api_base_url=receiver.url, **options)


async def test_telegram_honours_retry_after_and_does_not_retry_a_refusal(receivers, session):
    receiver = await receivers(mode="retry_after", retry_after=1)
    settings = telegram_settings(receiver)
    alerts, metrics = dispatcher([TelegramChannel(settings, TelegramApi(settings, session), 42)])
    alerts.publish(alert(kind="guard_critical", severity="critical"))
    assert await alerts.flush(5)
    first, second = receiver.attempts
    assert second - first >= 1.0  # Telegram's retry_after, not the 0.05 s backoff
    [message] = receiver.received
    assert message.json["chat_id"] == 42 and message.json["text"].startswith("🚨 CRITICAL · guard_critical")
    assert value(metrics, "tradebot_alerts_failed_total", channel="telegram:42") == 1
    assert value(metrics, "tradebot_alerts_sent_total", channel="telegram:42") == 1

    receiver.mode = "refuse"  # "chat not found": the same request would fail forever
    alerts.publish(alert(5))
    assert await alerts.flush(5)
    assert len(receiver.attempts) == 3
    assert value(metrics, "tradebot_alerts_dropped_total", channel="telegram:42", reason="gave_up") == 1
    await alerts.close(1)


async def test_duplicates_disabled_kinds_and_low_severities_are_filtered(receivers, session):
    receiver = await receivers()
    channel = WebhookChannel(WebhookSettings(name="ops", url=f"{receiver.url}/hook", min_severity="warning"),
                             session, WallClock(), None)
    alerts, metrics = dispatcher([channel], kinds={"daily_summary": False}, dedup_window_seconds=60)
    assert alerts.publish(alert(1, kind="order_rejected", severity="warning"))
    assert not alerts.publish(alert(1, kind="order_rejected", severity="warning"))  # the same again
    assert not alerts.publish(alert(1, kind="daily_summary"))
    assert alerts.publish(alert(2, kind="order_filled", severity="info"))  # below this channel's minimum
    assert await alerts.flush(5)
    await alerts.close(1)
    assert [item.json["kind"] for item in receiver.received] == ["order_rejected"]
    assert SIGNATURE_HEADER not in receiver.received[0].headers  # no secret configured, nothing signed
    assert value(metrics, "tradebot_alerts_suppressed_total", kind="order_rejected", reason="duplicate") == 1
    assert value(metrics, "tradebot_alerts_suppressed_total", kind="daily_summary", reason="disabled") == 1


async def test_a_full_queue_gives_way_to_more_severe_alerts_and_sends_them_first(receivers, session):
    receiver = await receivers()
    alerts, metrics = dispatcher([webhook(receiver, session, max_messages=1, per_seconds=0.2)], queue_size=3)
    for number in range(10):
        alerts.publish(alert(number))  # info fills of a busy minute
    alerts.publish(Alert(kind="trading_state_changed", severity="critical", message="TradingState ACTIVE → HALTED: operator",
                         at_ns=1_723_161_250_000_000_000))
    assert await alerts.flush(5)
    await alerts.close(1)
    kinds = [item.json["kind"] for item in receiver.received]
    # Three waited; the kill switch took the oldest fill's place and went out first.
    assert kinds == ["trading_state_changed", "order_filled", "order_filled"]
    assert [item.json["details"]["number"] for item in receiver.received[1:]] == ["1", "2"]
    assert value(metrics, "tradebot_alerts_dropped_total", channel="webhook:ops", reason="queue_full") == 8
