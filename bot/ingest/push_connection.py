"""A websocket client connection that hands each message to a callback as soon as it is parsed.

The `websockets` library queues every received message and a reader task takes them out one
`await recv()` at a time. For a market-data client that reads as fast as it can, that queue, the
wake-up of the reader and the `recv()` call were about a tenth of the whole cost of a message
(scripts/bench_ingest.py). Here a message goes from the frame parser straight to `on_message`,
synchronously, stamped with the time its bytes were read from the socket (see `data_received`
for the one-nanosecond steps within a read); the caller applies backpressure itself with
`pause_reading` / `resume_reading` (TCP then pushes back on the sender, as the library's own
queue would).

Everything else stays the library's: the handshake, pings and pongs, the close handshake, limits
and protocol errors. Fragmented messages are reassembled here (the protocol layer has already
checked that the fragments follow each other and fit `max_size`).
"""

from __future__ import annotations

from typing import Any, Callable

from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode

MessageCallback = Callable[[bytes, int], None]
"""on_message(data, received_ns): the message's bytes (text frames are not decoded) and when it
was received, in ns (see PushConnection.data_received)."""

_TEXT, _BINARY, _CONTINUATION = Opcode.TEXT, Opcode.BINARY, Opcode.CONT


class PushConnection(ClientConnection):
    on_message: MessageCallback | None = None
    now_ns: Callable[[], int]
    failure: BaseException | None = None  # what on_message raised; the connection was aborted
    _received_ns = 0
    _fragments: list[bytes] | None = None

    def data_received(self, data: bytes) -> None:
        # One clock reading per socket read: every message in it had arrived by then. Each
        # message after the read's first is stamped one nanosecond later than the one before, so
        # receive times stay strictly rising in arrival order (the engine merges streams by them;
        # equal times would fall back to a fixed order of stream names). The steps add up to
        # well under a microsecond per read, far less than the time it takes to handle the read.
        now = self.now_ns()
        if now > self._received_ns:
            self._received_ns = now
        super().data_received(data)

    def process_event(self, event: Any) -> None:
        on_message = self.on_message
        if on_message is None or type(event) is not Frame:  # the handshake response, or not wanted
            super().process_event(event)
            return
        opcode = event.opcode
        if opcode is _TEXT or opcode is _BINARY:
            if not event.fin:
                self._fragments = [bytes(event.data)]
                return
            data = bytes(event.data)
        elif opcode is _CONTINUATION:
            fragments = self._fragments
            assert fragments is not None  # the protocol refuses a continuation that continues nothing
            fragments.append(bytes(event.data))
            if not event.fin:
                return
            data, self._fragments = b"".join(fragments), None
        else:  # ping, pong, close: the library's
            super().process_event(event)
            return
        received_ns = self._received_ns
        self._received_ns = received_ns + 1
        try:
            on_message(data, received_ns)
        except Exception as error:  # a bug downstream: end this connection, keep the error for its reader
            self.on_message = None
            self.failure = error
            self.transport.abort()


class PushConnectionFactory:
    """For `connect(create_connection=...)`: builds the PushConnection and reports it at once
    (`created`), before the handshake, since messages can follow the handshake before connect()
    returns."""

    def __init__(self, on_message: MessageCallback, now_ns: Callable[[], int], created: Callable[[PushConnection], None]) -> None:
        self.on_message = on_message
        self.now_ns = now_ns
        self.created = created

    def __call__(self, *arguments: Any, **options: Any) -> PushConnection:
        connection = PushConnection(*arguments, **options)
        connection.on_message = self.on_message
        connection.now_ns = self.now_ns
        self.created(connection)
        return connection
