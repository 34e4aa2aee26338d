"""Local stand-ins for the other ends of the alert channels, over real HTTP on the loopback:
Telegram's Bot API (sendMessage, getUpdates) and a webhook receiver. Each records what arrived and
when (monotonic seconds), and can be told to fail: answer 500, 429 with retry_after, or hang."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from aiohttp import web

TOKEN = "123456:test-token"


@dataclass
class Received:
    at: float  # time.monotonic()
    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """One HTTP server; `mode` decides the answer: ok, fail (500), hang, refuse (400), retry_after."""

    mode: str = "ok"
    retry_after: int = 1
    received: list[Received] = field(default_factory=list)
    attempts: list[float] = field(default_factory=list)
    updates: list[dict] = field(default_factory=list)  # what getUpdates hands out
    polls: int = 0
    _runner: web.AppRunner | None = None
    port: int = 0

    async def start(self) -> "Receiver":
        application = web.Application()
        application.router.add_post("/hook", self._hook)
        application.router.add_post(f"/bot{TOKEN}/sendMessage", self._send_message)
        application.router.add_post(f"/bot{TOKEN}/getUpdates", self._get_updates)
        # A short shutdown_timeout: a "hang" handler is still waiting when the test stops the server.
        self._runner = web.AppRunner(application, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _answer(self, request: web.Request, ok: web.Response) -> web.Response:
        body = await request.read()
        self.attempts.append(time.monotonic())
        if self.mode == "hang":
            await asyncio.sleep(3600)
        if self.mode == "fail":
            return web.json_response({"ok": False, "error_code": 500, "description": "Internal Server Error"}, status=500)
        if self.mode == "refuse":
            return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}, status=400)
        if self.mode == "retry_after":
            self.mode = "ok"  # once: the next attempt goes through
            return web.json_response({"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {self.retry_after}",
                                      "parameters": {"retry_after": self.retry_after}}, status=429)
        self.received.append(Received(time.monotonic(), body, dict(request.headers)))
        return ok

    async def _hook(self, request: web.Request) -> web.Response:
        return await self._answer(request, web.Response(status=204))

    async def _send_message(self, request: web.Request) -> web.Response:
        return await self._answer(request, web.json_response({"ok": True, "result": {"message_id": len(self.received) + 1}}))

    async def _get_updates(self, request: web.Request) -> web.Response:
        payload = await request.json()
        self.polls += 1
        offset = payload.get("offset") or 0
        pending = [update for update in self.updates if update["update_id"] >= offset]
        if not pending:
            await asyncio.sleep(min(payload.get("timeout", 0), 0.2))  # a short long-poll, for tests
        return web.json_response({"ok": True, "result": pending})

    def messages_to(self, chat_id: int) -> list[str]:
        return [item.json["text"] for item in self.received if item.json.get("chat_id") == chat_id]


def most_in_any_window(times: list[float], window_seconds: float) -> int:
    """The largest number of deliveries that fell within any window of this length."""
    ordered = sorted(times)
    most = start = 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= window_seconds:
            start += 1
        most = max(most, end - start + 1)
    return most


def command_update(update_id: int, chat_id: int, text: str) -> dict:
    return {"update_id": update_id, "message": {"message_id": update_id, "date": 0, "text": text,
                                                "chat": {"id": chat_id, "type": "private"}, "from": {"id": chat_id, "username": f"user{chat_id}"}}}
