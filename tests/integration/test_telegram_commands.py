"""Telegram commands, end to end: the daemon trades the bundled real recording with Telegram's Bot
API stood in for by a local server that hands out updates. Commands from the allowed chat are
answered and applied by the engine; a chat that is not allowed gets nothing and changes nothing."""

from __future__ import annotations

import asyncio
import json

import redis
from http_support import KEYS, daemon_settings

from alert_receivers import TOKEN, Receiver, command_update
from bot.app import Daemon
from bot.bus.redis_server import EmbeddedRedis

ALLOWED, STRANGER = 1001, 666


async def test_commands_from_the_allowed_chat_are_answered_and_applied_and_a_stranger_is_ignored(tmp_path):
    telegram = await Receiver().start()
    updates = [
        command_update(10, STRANGER, "/halt"),
        command_update(11, ALLOWED, "/status"),
        command_update(12, ALLOWED, "/positions@tradebot_test_bot"),
        command_update(13, ALLOWED, "/pause volatile market"),
        command_update(14, STRANGER, "/resume"),
        command_update(15, ALLOWED, "/help"),
    ]
    with EmbeddedRedis(tmp_path / "redis") as server:
        settings = daemon_settings(
            server.url, tmp_path / "daemon", TRADEBOT_REPLAY_EXCHANGE__SPEED="20",
            TRADEBOT_ALERTS__TELEGRAM__ENABLED="true", TRADEBOT_ALERTS__TELEGRAM__BOT_TOKEN=TOKEN,
            TRADEBOT_ALERTS__TELEGRAM__CHAT_IDS=f"[{ALLOWED}]", TRADEBOT_ALERTS__TELEGRAM__API_BASE_URL=telegram.url,
            TRADEBOT_ALERTS__TELEGRAM__POLL_TIMEOUT_SECONDS="1",
        )
        daemon = Daemon(settings)
        stop = asyncio.Event()
        running = asyncio.create_task(daemon.run(stop))
        with redis.Redis.from_url(server.url) as client:
            try:
                async with asyncio.timeout(60):
                    while not client.exists(KEYS.account()) and not running.done():
                        await asyncio.sleep(0.05)
                    telegram.updates = updates  # sent once the engine has committed its first batch
                    while not client.xlen(KEYS.state_changes()) and not running.done():
                        await asyncio.sleep(0.05)
            finally:
                stop.set()
                await asyncio.wait_for(running, 30)
            await telegram.stop()
            commands = [{key.decode(): value.decode() for key, value in fields.items()} for _, fields in client.xrange(KEYS.commands())]
            changes = [json.loads(fields[b"change"]) for _, fields in client.xrange(KEYS.state_changes())]
            offset = int(client.get(KEYS.telegram_offset()))

    # Only the allowed chat's /pause reached the engine, and the engine applied it.
    assert commands == [{"command": "reduce", "reason": f"telegram /pause from chat {ALLOWED}: volatile market"}]
    assert changes[0]["state"] == "REDUCING" and changes[0]["reason"].startswith("telegram /pause")
    assert daemon.alerts.commands.ignored == 2 and daemon.alerts.commands.handled == 4
    assert offset == 16  # every update handled, so a restart repeats none of them

    replies = telegram.messages_to(ALLOWED)
    answers = [text for text in replies if "·" not in text]  # alerts carry "SEVERITY · kind"
    assert answers[0].startswith("TradingState ACTIVE") and "equity" in answers[0]
    assert answers[1] == "no open positions" or "BTCUSDT:" in answers[1]
    assert answers[2].startswith("⏸ paused: no new entries")
    assert answers[3].startswith("/status:")
    assert telegram.messages_to(STRANGER) == []
    # The kill-switch change was alerted too (REDUCING: a warning).
    assert any(text.startswith("⚠️ WARNING · trading_state_changed") for text in replies)
