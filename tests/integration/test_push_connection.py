"""PushConnection against a real `websockets` server on loopback: messages, fragmented ones
included, reach the callback whole and in order, stamped with strictly rising receive times;
pausing the reads holds them back; a callback that raises ends the connection and keeps the error."""

from __future__ import annotations

import asyncio
import itertools

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from bot.ingest.push_connection import PushConnection, PushConnectionFactory

# 800 KB in all: more than one socket read brings (asyncio reads at most 256 KiB at a time).
MESSAGES = [f'{{"n":{number},"pad":"{"x" * 4000}"}}' for number in range(200)]


async def _serve_messages(websocket) -> None:
    await websocket.send(["{\"fragmented\":", "\"in three", " parts\"}"])  # one text message in three frames
    for message in MESSAGES:
        await websocket.send(message)
    await websocket.send(b"\x00binary")
    await websocket.wait_closed()


async def _connect(on_message, clock=None) -> PushConnection:
    # compression=None as the stream client connects: deflated, the padded messages would all fit in one read.
    created: list[PushConnection] = []
    ticks = itertools.count(1_000, 1_000)  # a clock that moves 1 us per reading
    factory = PushConnectionFactory(on_message, clock or (lambda: next(ticks)), created.append)
    server = await serve(_serve_messages, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    websocket = await connect(f"ws://127.0.0.1:{port}", create_connection=factory, compression=None)  # type: ignore[arg-type]
    assert created == [websocket] and isinstance(websocket, PushConnection)
    websocket.test_server = server  # type: ignore[attr-defined]
    return websocket


async def _close(websocket: PushConnection) -> None:
    await websocket.close()
    websocket.test_server.close()  # type: ignore[attr-defined]
    await websocket.test_server.wait_closed()  # type: ignore[attr-defined]


async def _until(condition, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def test_messages_arrive_whole_in_order_with_rising_receive_times():
    received: list[tuple[bytes, int]] = []
    websocket = await _connect(lambda data, received_ns: received.append((data, received_ns)))
    try:
        await _until(lambda: len(received) == len(MESSAGES) + 2)
    finally:
        await _close(websocket)
    data = [item for item, _ in received]
    assert data == [b'{"fragmented":"in three parts"}', *(message.encode() for message in MESSAGES), b"\x00binary"]
    assert all(type(item) is bytes for item in data)
    times = [received_ns for _, received_ns in received]
    assert all(later > earlier for earlier, later in itertools.pairwise(times))
    # One clock reading per socket read, one nanosecond more per message after it in that read.
    assert times[0] % 1_000 == 0 and len({received_ns - received_ns % 1_000 for received_ns in times}) < len(times)


async def test_paused_reads_hold_messages_back_until_resumed():
    received: list[bytes] = []
    created: list[PushConnection] = []

    def on_message(data: bytes, received_ns: int) -> None:
        received.append(data)
        if len(received) == 1:
            created[0].transport.pause_reading()

    factory = PushConnectionFactory(on_message, lambda: 1, created.append)
    server = await serve(_serve_messages, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        websocket = await connect(f"ws://127.0.0.1:{port}", create_connection=factory, compression=None)  # type: ignore[arg-type]
        await _until(lambda: len(received) >= 1)
        await asyncio.sleep(0.2)
        held_at = len(received)
        assert held_at < len(MESSAGES)  # what the one read brought, not the whole stream
        await asyncio.sleep(0.2)
        assert len(received) == held_at  # nothing more while paused
        websocket.transport.resume_reading()
        await _until(lambda: len(received) == len(MESSAGES) + 2)
        await websocket.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_a_callback_that_raises_ends_the_connection_and_keeps_the_error():
    def on_message(data: bytes, received_ns: int) -> None:
        if data.startswith(b'{"n":3,'):
            raise RuntimeError("a bug downstream")

    websocket = await _connect(on_message)
    try:
        async with asyncio.timeout(5):
            await websocket.wait_closed()
        assert isinstance(websocket.failure, RuntimeError) and str(websocket.failure) == "a bug downstream"
        assert websocket.on_message is None
    finally:
        await _close(websocket)


async def test_a_clock_that_stands_still_still_gives_rising_times():
    received: list[int] = []
    websocket = await _connect(lambda data, received_ns: received.append(received_ns), clock=lambda: 5)
    try:
        await _until(lambda: len(received) == len(MESSAGES) + 2)
    finally:
        await _close(websocket)
    assert received == list(range(5, 5 + len(MESSAGES) + 2))
