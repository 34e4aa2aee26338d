"""Telegram commands: /status, /positions, /pause, /resume, /halt (and /help), from allowed chats.

Updates are long-polled with getUpdates. A message from any chat not in
`alerts.telegram.allowed_chat_ids` (default: `chat_ids`) is ignored, unanswered, and logged. The
trading commands go into the engine's command stream exactly like `tradebot halt` does, so the
engine applies them at its next batch and the ledger records them. The offset of the last update
handled is kept in Redis: a restart neither repeats a /halt nor loses a /resume.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal

import redis.asyncio as redis
import structlog
from redis.exceptions import RedisError

from bot.alerts.channel import DeliveryError
from bot.backoff import Backoff
from bot.bus.redis_keys import RedisKeys
from bot.config.alerts import TelegramSettings

log = structlog.get_logger("bot.alerts.telegram")

# Telegram command -> the engine's operator command (bot.engine.runner).
TRADING_COMMANDS = {"pause": "reduce", "resume": "resume", "halt": "halt"}
_ANSWERS = {
    "reduce": "⏸ paused: no new entries (TradingState REDUCING); exits still run",
    "resume": "▶️ resumed: normal trading (TradingState ACTIVE)",
    "halt": "🛑 halted: the kill switch is on, no orders at all (TradingState HALTED)",
}
HELP = (
    "/status: trading state, equity and PnL\n/positions: open positions\n"
    "/pause: no new entries\n/resume: trade normally again\n/halt: kill switch, no orders"
)


class TelegramCommands:
    def __init__(self, settings: TelegramSettings, api, client: redis.Redis, keys: RedisKeys, queries) -> None:
        self._settings = settings
        self._api = api
        self._client = client
        self._keys = keys
        self._queries = queries  # bot.http.queries.TradingQueries
        self._allowed = settings.command_chat_ids
        self._backoff = Backoff(1.0, 60.0)
        self.handled = 0
        self.ignored = 0

    async def run(self) -> None:
        offset = await self._stored_offset()
        failures = 0
        while True:
            try:
                updates = await self._api.call(
                    "getUpdates",
                    {"offset": offset, "timeout": self._settings.poll_timeout_seconds, "allowed_updates": ["message"]},
                    timeout_seconds=self._settings.poll_timeout_seconds + 10,
                )
            except (DeliveryError, TimeoutError) as error:
                failures += 1
                delay = getattr(error, "retry_after", None) or self._backoff.delay(failures)
                log.warning("telegram getUpdates failed; retrying", error=str(error) or "timed out", retry_in_seconds=round(delay, 1))
                await asyncio.sleep(delay)
                continue
            failures = 0
            for update in updates if isinstance(updates, list) else []:
                if not isinstance(update, Mapping) or not isinstance(update.get("update_id"), int):
                    continue
                offset = update["update_id"] + 1
                await self.handle(update)
                await self._store_offset(offset)

    async def handle(self, update: Mapping) -> None:
        message = update.get("message")
        if not isinstance(message, Mapping):
            return
        chat = message.get("chat")
        chat_id = chat.get("id") if isinstance(chat, Mapping) else None
        text = message.get("text")
        if not isinstance(chat_id, int) or not isinstance(text, str) or not text.startswith("/"):
            return
        command, _, argument = text[1:].partition(" ")
        command = command.split("@", 1)[0].lower()  # "/status@MyBot" in groups
        if chat_id not in self._allowed:
            self.ignored += 1
            sender = message.get("from")
            log.warning("telegram command from a chat that is not allowed; ignored", chat_id=chat_id, command=command,
                        user=sender.get("username") if isinstance(sender, Mapping) else None)
            return
        self.handled += 1
        log.info("telegram command", chat_id=chat_id, command=command)
        try:
            answer = await self._answer(chat_id, command, argument.strip())
        except (RedisError, OSError) as error:
            answer = f"⚠️ could not read or write the record in Redis: {type(error).__name__}"
            log.error("telegram command failed: Redis", command=command, error=repr(error))
        try:
            await self._api.send_message(chat_id, answer)
        except DeliveryError as error:
            log.warning("telegram reply not delivered", chat_id=chat_id, command=command, error=str(error))

    async def _answer(self, chat_id: int, command: str, argument: str) -> str:
        if command in TRADING_COMMANDS:
            engine_command = TRADING_COMMANDS[command]
            reason = f"telegram /{command} from chat {chat_id}" + (f": {argument}" if argument else "")
            entry = await self._client.xadd(self._keys.commands(), {"command": engine_command, "reason": reason})
            log.warning("operator command queued from telegram", command=engine_command, entry=entry.decode(), chat_id=chat_id)
            return f"{_ANSWERS[engine_command]}\n(queued as {entry.decode()}; the engine applies it with its next batch)"
        if command == "status":
            return status_text(await self._queries.status())
        if command == "positions":
            return positions_text(await self._queries.positions())
        return HELP

    async def _stored_offset(self) -> int | None:
        try:
            raw = await self._client.get(self._keys.telegram_offset())
        except (RedisError, OSError):
            return None
        return int(raw) if raw else None

    async def _store_offset(self, offset: int) -> None:
        try:
            await self._client.set(self._keys.telegram_offset(), offset)
        except (RedisError, OSError) as error:  # the next getUpdates confirms it at Telegram anyway
            log.warning("telegram offset not stored", error=repr(error))


def _amount(text: object) -> str:
    if text in (None, ""):
        return "-"
    value = Decimal(str(text))
    return format(value.quantize(Decimal("0.01")) if abs(value) >= 1 else value.normalize(), "f")


def status_text(status: Mapping) -> str:
    if not status.get("trading_state"):
        return "the engine has not committed anything yet"
    reason = f" ({status['state_reason']})" if status.get("state_reason") else ""
    return (
        f"TradingState {status['trading_state']}{reason}\n"
        f"equity {_amount(status.get('equity'))}  cash {_amount(status.get('cash'))}\n"
        f"realized PnL {_amount(status.get('realized_pnl'))}  unrealized {_amount(status.get('unrealized_pnl'))}\n"
        f"in positions {_amount(status.get('position_value'))}  fees {_amount(status.get('fees_paid'))}"
    )


def positions_text(positions) -> str:
    if not positions:
        return "no open positions"
    lines = []
    for position in positions:
        lines.append(f"{position['symbol']}: {position['quantity']} @ {_amount(position.get('average_price'))}"
                     + (f", stop {_amount(position['stop_price'])}" if position.get("stop_price") else ""))
    return "\n".join(lines)
