"""Acceptance: the daemon trades the bundled real recording with Telegram (a local stand-in for its
Bot API) and a signed webhook configured, while 1,000 extra alerts are published within a second.

The alerts a user expects arrive (started, fills, stopping) on both channels, every webhook
signature verifies, Telegram never gets more than its configured rate, the flood's overflow is
counted as dropped, and the trading record is identical to a run with no alert channel at all:
the flood cost no trading event.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import redis

from alert_receivers import TOKEN, Receiver, most_in_any_window
from bot.alerts import Alert
from bot.alerts.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from bot.app import Daemon
from bot.bus.redis_keys import RedisKeys
from bot.bus.redis_server import EmbeddedRedis
from bot.config import load_settings
from test_embedded_defaults import ledger

ROOT = Path(__file__).parents[2]
SECRET = "a-webhook-signing-secret"
CHAT = 4242
RATE = 5  # Telegram messages per second, configured below


def settings_for(data_directory: Path, telegram: Receiver | None, webhook: Receiver | None,
                 failing: Receiver | None = None, hanging: Receiver | None = None):
    environment = {
        "TRADEBOT_DATA_DIRECTORY": str(data_directory),
        "TRADEBOT_REPLAY_EXCHANGE__SPEED": "",
        "TRADEBOT_METRICS__PORT": "0",
        "TRADEBOT_ALERTS__QUEUE_SIZE": "50",
        "TRADEBOT_ALERTS__REQUEST_TIMEOUT_SECONDS": "0.5",
        "TRADEBOT_ALERTS__MAX_ATTEMPTS": "3",
        "TRADEBOT_ALERTS__BACKOFF_INITIAL_SECONDS": "0.05",
        "TRADEBOT_ALERTS__BACKOFF_MAX_SECONDS": "0.1",
    }
    if telegram is not None:
        environment |= {
            "TRADEBOT_ALERTS__TELEGRAM__ENABLED": "true",
            "TRADEBOT_ALERTS__TELEGRAM__BOT_TOKEN": TOKEN,
            "TRADEBOT_ALERTS__TELEGRAM__CHAT_IDS": f"[{CHAT}]",
            "TRADEBOT_ALERTS__TELEGRAM__API_BASE_URL": telegram.url,
            "TRADEBOT_ALERTS__TELEGRAM__MAX_MESSAGES": str(RATE),
            "TRADEBOT_ALERTS__TELEGRAM__PER_SECONDS": "1",
            "TRADEBOT_ALERTS__TELEGRAM__COMMANDS_ENABLED": "false",
        }
    if webhook is not None:
        hooks = [{"name": "ops", "url": f"{webhook.url}/hook", "max_messages": 100, "per_seconds": 1}]
        hooks += [{"name": name, "url": f"{receiver.url}/hook", "max_messages": 100, "per_seconds": 1}
                  for name, receiver in (("failing", failing), ("hanging", hanging)) if receiver is not None]
        environment |= {
            "TRADEBOT_ALERTS__WEBHOOKS": json.dumps(hooks),
            "TRADEBOT_ALERTS__WEBHOOK_SIGNING_SECRET": SECRET,
        }
    return load_settings(ROOT / "config/tradebot.yaml", environment)


async def flood_when_trading(daemon: Daemon, published: list[float]) -> None:
    await daemon.ready.wait()
    await daemon.runner.ready.wait()  # the engine is through its warm-up and trading
    started = time.monotonic()
    for number in range(1000):
        daemon.alerts.dispatcher.publish(Alert(
            kind="order_placed", severity="info", message=f"flood alert {number}", at_ns=time.time_ns(),
        ))
        if number % 100 == 99:
            await asyncio.sleep(0)  # the engine goes on between bursts
    published.append(time.monotonic() - started)


def trading_record(data_directory: Path) -> dict:
    """The ledger as test_embedded_defaults reads it, and the kinds of the alerts stored."""
    keys = RedisKeys("tradebot")
    record = ledger(data_directory)
    with EmbeddedRedis(data_directory) as server, redis.Redis.from_url(server.url) as client:
        record["stored_alert_kinds"] = [json.loads(fields[b"alert"])["kind"] for _, fields in client.xrange(keys.alerts())]
    return record


@pytest.mark.slow
async def test_the_daemon_alerts_telegram_and_a_signed_webhook_through_a_flood_without_losing_a_trade(tmp_path):
    baseline = Daemon(settings_for(tmp_path / "baseline", None, None))
    await asyncio.wait_for(baseline.run(asyncio.Event()), 180)
    expected = trading_record(tmp_path / "baseline")

    telegram, webhook = await Receiver().start(), await Receiver().start()
    failing, hanging = await Receiver(mode="fail").start(), await Receiver(mode="hang").start()
    try:
        daemon = Daemon(settings_for(tmp_path / "alerted", telegram, webhook, failing, hanging))
        published: list[float] = []
        flood = asyncio.create_task(flood_when_trading(daemon, published))
        await asyncio.wait_for(daemon.run(asyncio.Event()), 180)
        await flood
    finally:
        for receiver in (telegram, webhook, failing, hanging):
            await receiver.stop()
    record = trading_record(tmp_path / "alerted")
    assert published and published[0] < 1.0  # 1,000 alerts within a second

    # Not one trading event lost or changed: the same decisions, orders, fills and balances.
    for part in ("decisions", "orders", "fills", "balances", "positions"):
        assert record[part] == expected[part], part
    assert len(record["fills"]) >= 10

    # The webhook: every body signed and verifiable, the expected kinds among them.
    now = time.time()
    bodies = [item.json for item in webhook.received]
    for item in webhook.received:
        assert verify_signature(SECRET.encode(), item.headers[TIMESTAMP_HEADER], item.body, item.headers[SIGNATURE_HEADER], now)
    kinds = [body["kind"] for body in bodies]
    assert kinds[0] == "daemon_started" and "daemon_stopping" in kinds
    assert "order_filled" in kinds
    fill_alert = next(body for body in bodies if body["kind"] == "order_filled")
    assert fill_alert["details"]["order_id"] in expected["orders"]

    # Telegram: within its rate at the receiver's end, the stop announced (it outranks the flood).
    times = [item.at for item in telegram.received]
    assert most_in_any_window(times, 1.0) <= RATE
    texts = telegram.messages_to(CHAT)
    assert texts[0].startswith("ℹ️ INFO · daemon_started") and any("daemon_stopping" in text for text in texts)

    # The overflow was counted, per channel, never silently lost.
    value = daemon.metrics.registry.get_sample_value
    dropped = value("tradebot_alerts_dropped_total", {"channel": f"telegram:{CHAT}", "reason": "queue_full"})
    assert dropped >= 1000 - 50 - 10
    sent = value("tradebot_alerts_sent_total", {"channel": f"telegram:{CHAT}"})
    assert sent == len(texts)
    # The Redis stream (the alerts' record, read by the API) kept every one of them.
    assert expected["stored_alert_kinds"].count("order_placed") == 0  # market orders: filled, never resting
    assert record["stored_alert_kinds"].count("order_placed") == 1000
    assert value("tradebot_alerts_dropped_total", {"channel": "redis", "reason": "queue_full"}) == 0

    # A receiver answering 500 and one that never answers: each alert tried 3 times, then dropped
    # and counted, while the healthy channels above got theirs.
    for name, receiver in (("failing", failing), ("hanging", hanging)):
        channel = f"webhook:{name}"
        gave_up = value("tradebot_alerts_dropped_total", {"channel": channel, "reason": "gave_up"})
        assert gave_up >= 1 and value("tradebot_alerts_sent_total", {"channel": channel}) == 0
        failed = value("tradebot_alerts_failed_total", {"channel": channel})
        assert failed >= 3 * gave_up
        # Every attempt the receiver saw was counted, but the one in flight when the daemon stopped.
        assert len(receiver.attempts) - 1 <= failed <= len(receiver.attempts)
        assert receiver.received == []
