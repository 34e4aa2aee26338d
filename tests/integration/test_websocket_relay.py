"""WebsocketRelay: websockets received in a real child process against a real `websockets` server on
loopback. Messages reach the callback whole, in order and stamped; backpressure holds them back;
connect failures come back as the exceptions the stream client sorts; a child that dies ends its
connections (code 1006) and the next connect starts a new one; stop() leaves no process behind."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import time

import pytest
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

from bot.ingest.relay import RelayedConnection, WebsocketRelay

from helpers import free_port

# 1.6 MB in all: far more than the relay keeps in flight (its output buffer, the pipe, one read).
MESSAGES = [f'{{"n":{number},"pad":"{"x" * 4000}"}}' for number in range(400)]
FRAGMENTED = b'{"fragmented":"in three parts"}'


async def _serve_messages(websocket) -> None:
    await websocket.send(["{\"fragmented\":", "\"in three", " parts\"}"])  # one text message in three frames
    for message in MESSAGES:
        await websocket.send(message)
    await websocket.send(b"\x00binary")
    with contextlib.suppress(ConnectionClosed):  # a killed relay drops it without a close frame
        async for message in websocket:  # then echo what the client sends
            await websocket.send(f"echo:{message}")


@pytest.fixture
async def server_url():
    async with serve(_serve_messages, "127.0.0.1", 0) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.fixture
async def relay():
    relay = WebsocketRelay()
    try:
        yield relay
    finally:
        await relay.stop()


async def _until(condition, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def _open(relay: WebsocketRelay, url: str, on_message) -> RelayedConnection:
    created: list[RelayedConnection] = []
    connection = await relay.connect(url, on_message, created.append, open_timeout=5, compression=None, close_timeout=2)
    assert created == [connection]
    return connection


async def test_messages_arrive_whole_in_order_stamped_by_the_child_with_the_wall_clock(relay, server_url):
    received: list[tuple[bytes, int]] = []
    before = time.time_ns()
    connection = await _open(relay, server_url, lambda data, received_ns: received.append((data, received_ns)))
    await _until(lambda: len(received) == len(MESSAGES) + 2)
    after = time.time_ns()
    await connection.close()
    assert connection.close_code == 1000
    data = [item for item, _ in received]
    assert data == [FRAGMENTED, *(message.encode() for message in MESSAGES), b"\x00binary"]
    assert all(type(item) is bytes for item in data)
    times = [received_ns for _, received_ns in received]
    assert all(later > earlier for earlier, later in itertools.pairwise(times))
    assert before <= times[0] and times[-1] <= after


async def test_with_another_clock_each_pipe_read_is_stamped_here_in_rising_steps(server_url):
    ticks = itertools.count(1_000_000, 1_000_000)
    relay = WebsocketRelay(now_ns=lambda: next(ticks))
    received: list[int] = []
    try:
        connection = await _open(relay, server_url, lambda data, received_ns: received.append(received_ns))
        await _until(lambda: len(received) == len(MESSAGES) + 2)
        await connection.close()
    finally:
        await relay.stop()
    assert all(later > earlier for earlier, later in itertools.pairwise(received))
    assert received[0] % 1_000_000 == 0 and received[-1] < 1_000_000_000  # our clock's readings, not the wall clock
    assert len({stamp - stamp % 1_000_000 for stamp in received}) < len(received)  # several messages a read


async def test_paused_reading_holds_messages_back_and_resuming_loses_none(relay, server_url):
    received: list[bytes] = []
    holder: list[RelayedConnection] = []

    def on_message(data: bytes, received_ns: int) -> None:
        received.append(data)
        if len(received) == 1:
            holder[0].pause_reading()

    connection = await relay.connect(server_url, on_message, holder.append, compression=None)
    await _until(lambda: len(received) >= 1)
    await asyncio.sleep(0.3)  # what was already in flight arrives
    held_at = len(received)
    await asyncio.sleep(0.3)
    assert len(received) == held_at < len(MESSAGES) // 2  # then nothing while paused
    connection.resume_reading()
    await _until(lambda: len(received) == len(MESSAGES) + 2)
    assert received[1:-1] == [message.encode() for message in MESSAGES]
    await connection.close()


async def test_messages_sent_reach_the_server_and_two_connections_share_one_child(relay, server_url):
    first: list[bytes] = []
    second: list[bytes] = []
    one = await _open(relay, server_url, lambda data, received_ns: first.append(data))
    two = await _open(relay, server_url, lambda data, received_ns: second.append(data))
    await one.send('{"method":"SUBSCRIBE","id":1}')
    await two.send('{"method":"SUBSCRIBE","id":2}')
    await _until(lambda: first[-1:] == [b'echo:{"method":"SUBSCRIBE","id":1}'] and second[-1:] == [b'echo:{"method":"SUBSCRIBE","id":2}'])
    assert first[:-1] == second[:-1] == [FRAGMENTED, *(message.encode() for message in MESSAGES), b"\x00binary"]
    assert len(relay.connections) == 2
    await asyncio.gather(one.close(), two.close())
    assert relay.connections == {}


async def test_a_callback_that_raises_ends_its_connection_and_keeps_the_error(relay, server_url):
    def on_message(data: bytes, received_ns: int) -> None:
        if data.startswith(b'{"n":3,'):
            raise RuntimeError("a bug downstream")

    connection = await _open(relay, server_url, on_message)
    async with asyncio.timeout(5):
        await connection.wait_closed()
    assert isinstance(connection.failure, RuntimeError) and str(connection.failure) == "a bug downstream"
    assert connection.close_code == 1006  # aborted, no close handshake


async def test_connect_failures_are_the_exceptions_websockets_would_raise(relay):
    with pytest.raises(ConnectionRefusedError):
        await relay.connect(f"ws://127.0.0.1:{free_port()}", lambda *_: None, lambda _: None, open_timeout=2)

    async def refuse(connection, request):
        return connection.respond(404, "no such stream\n")

    async with serve(_serve_messages, "127.0.0.1", 0, process_request=refuse) as server:
        with pytest.raises(InvalidStatus) as refused:
            await relay.connect(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/x", lambda *_: None, lambda _: None)
    assert refused.value.response.status_code == 404
    with pytest.raises(InvalidURI):
        await relay.connect("http://not-a-websocket-url", lambda *_: None, lambda _: None)
    assert relay.connections == {}


async def test_a_child_that_dies_ends_its_connections_and_the_next_connect_starts_another(relay, server_url):
    received: list[bytes] = []
    connection = await _open(relay, server_url, lambda data, received_ns: received.append(data))
    await _until(lambda: len(received) == len(MESSAGES) + 2)
    first_child = relay._transport.get_pid()  # noqa: SLF001 - the test kills the child from outside
    os.kill(first_child, signal.SIGKILL)
    async with asyncio.timeout(5):
        await connection.wait_closed()
    assert connection.close_code == 1006 and "relay process ended" in connection.close_reason
    with pytest.raises(ConnectionClosed):
        await connection.send("too late")
    again: list[bytes] = []
    replacement = await _open(relay, server_url, lambda data, received_ns: again.append(data))
    assert relay._transport.get_pid() != first_child  # noqa: SLF001
    await _until(lambda: len(again) == len(MESSAGES) + 2)
    await replacement.close()


async def test_stop_closes_the_connections_and_the_child_exits(server_url):
    relay = WebsocketRelay()
    connection = await _open(relay, server_url, lambda *_: None)
    process = relay._transport  # noqa: SLF001
    await relay.stop()
    assert process.get_returncode() == 0
    async with asyncio.timeout(5):
        await connection.wait_closed()
    assert connection.close_code == 1000  # the child closed it properly on its way out
    await relay.stop()  # twice is harmless
