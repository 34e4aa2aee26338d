"""Shared by the MarketStreamClient integration tests: a recording StreamEvents, a harness that runs
the client against the replay exchange over loopback, and polling helpers."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from bot.clock import WallClock
from bot.domain.events import StreamMessage
from bot.ingest.client import MarketStreamClient, StreamClientSettings
from bot.ingest.wire import FrameError
from bot.sim import RECORDINGS_DIRECTORY, ReplayExchange, ReplaySettings
from bot.sim.connection import StreamConnection
from bot.sim.timeline import Timeline

BTC_RECORDING = RECORDINGS_DIRECTORY / "spot_BTCUSDT_depth100ms-bookTicker-trade_2024-08-08T2354_2024-08-09T0005.jsonl.gz"
TRADES = "btcusdt@trade"
BOOK_TICKER = "btcusdt@bookTicker"
DEPTH = "btcusdt@depth@100ms"
BTC_STREAMS = [TRADES, BOOK_TICKER, DEPTH]


@dataclass
class Recorder:
    """StreamEvents that keeps everything, stamped with time.monotonic()."""

    congested: bool = False  # what on_message answers: True makes the client await `drained`
    messages: list[tuple[float, StreamMessage]] = field(default_factory=list)
    per_stream: Counter[str] = field(default_factory=Counter)
    frame_errors: list[FrameError] = field(default_factory=list)
    connection_events: list[tuple[float, str, int, str]] = field(default_factory=list)
    stale: list[tuple[float, str, float]] = field(default_factory=list)

    def on_message(self, message: StreamMessage) -> bool:
        self.messages.append((time.monotonic(), message))
        self.per_stream[message.stream] += 1
        return self.congested

    def on_frame_error(self, error: FrameError) -> None:
        self.frame_errors.append(error)

    def on_connection_event(self, kind: str, shard: int, detail: str) -> None:
        self.connection_events.append((time.monotonic(), kind, shard, detail))

    def on_stale(self, stream: str, silent_seconds: float) -> None:
        self.stale.append((time.monotonic(), stream, silent_seconds))

    def events(self, kind: str) -> list[tuple[float, str, int, str]]:
        return [event for event in self.connection_events if event[1] == kind]

    def trade_ids(self) -> list[int]:
        return [message.event.trade_id for _, message in self.messages if message.stream == TRADES]  # type: ignore[attr-defined]

    def first_message_after(self, moment: float) -> float:
        return next(stamp for stamp, _ in self.messages if stamp > moment)


def fast_settings(**overrides: object) -> StreamClientSettings:
    """Binance's rules unchanged; only the timeouts and delays shortened so tests are quick."""
    values: dict[str, object] = {
        "backoff_initial_seconds": 0.02, "backoff_max_seconds": 0.1, "open_timeout_seconds": 2.0,
        "handover_timeout_seconds": 2.0,
    }
    values.update(overrides)
    return StreamClientSettings(**values)  # type: ignore[arg-type]


def replay_settings(**overrides: object) -> ReplaySettings:
    values: dict[str, object] = {"recordings": (BTC_RECORDING,), "speed": 20.0, "ping_interval_s": None}
    values.update(overrides)
    return ReplaySettings(**values)  # type: ignore[arg-type]


def server_connections(exchange: ReplayExchange) -> list[StreamConnection]:
    """The exchange's open stream connections, each with its ordered `subscriptions`."""
    return list(exchange._streams.connections)  # noqa: SLF001 - the test looks at the server's side


async def until(condition: Callable[[], bool], what: str, timeout: float = 5.0, *watched: asyncio.Task) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for task in watched:
            if task.done():
                task.result()  # a crashed client fails the test with its own error
                raise AssertionError(f"the client stopped while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


@dataclass
class Harness:
    exchange: ReplayExchange
    client: MarketStreamClient
    recorder: Recorder
    task: asyncio.Task[None]

    async def until(self, condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
        await until(condition, what, timeout, self.task)

    async def run_for(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if self.task.done():
            self.task.result()
            raise AssertionError("the client stopped on its own")


@contextlib.asynccontextmanager
async def running_client(
    timeline: Timeline,
    streams: list[str],
    settings: StreamClientSettings,
    replay: ReplaySettings | None = None,
    recorder: Recorder | None = None,
    drained: Callable[[], object] | None = None,
    random_source: random.Random | None = None,
    base_path: str = "",
) -> AsyncIterator[Harness]:
    recorder = recorder or Recorder()
    async with ReplayExchange(replay or replay_settings(), timeline=timeline) as exchange:
        client = MarketStreamClient(
            exchange.ws_base_url + base_path, streams, WallClock(), recorder, settings,
            drained=drained, random_source=random_source,  # type: ignore[arg-type]
        )
        task = asyncio.create_task(client.run(), name="client-under-test")
        try:
            yield Harness(exchange, client, recorder, task)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
