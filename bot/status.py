"""`tradebot status`: what the record in Redis holds, for a person at a terminal.

It reads the daemon's Redis: the configured `redis.url`, or the private server of a running
daemon, or, when no daemon runs, a private server started just for this look at the stored
append-only file (and stopped again).
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import msgspec
import redis
from rich.console import Console
from rich.table import Table

from bot.bus.redis_keys import RedisKeys
from bot.bus.redis_server import EmbeddedRedis, running_server_url
from bot.config import Settings, mask_url_password
from bot.status_trading import show_trading


@contextlib.contextmanager
def redis_url_of(settings: Settings) -> Iterator[tuple[str, str]]:
    """(URL, where it came from) of the Redis a command outside the daemon should use: the
    configured one, the running daemon's private server, or, with no daemon running, the private
    server started just for this command on the stored record."""
    if settings.redis.url is not None:
        yield settings.redis.url, "redis.url"
        return
    url = running_server_url(Path(settings.data_directory))
    if url is not None:
        yield url, "the running daemon's private server"
        return
    with EmbeddedRedis(Path(settings.data_directory)) as server:
        yield server.url, "the stored record; no daemon is running"


def _time(milliseconds: int) -> str:
    return datetime.fromtimestamp(milliseconds / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def show_status(settings: Settings, console: Console | None = None) -> int:
    console = console or Console()
    keys = RedisKeys(settings.redis.namespace)
    with redis_url_of(settings) as (url, source):
        client = redis.Redis.from_url(url, socket_connect_timeout=settings.redis.connect_timeout_seconds)
        try:
            console.print(f"[bold]Redis[/] {mask_url_password(url)}: {source}; namespace [bold]{keys.namespace}[/]")
            streams = sorted(key.decode() for key in client.scan_iter(match=f"{keys.namespace}:stream:*", count=1000))
            # Entry ids carry exchange time, except spot bookTicker's, which carry receive time.
            table = Table("stream", "entries", "first (UTC)", "last (UTC)")
            for stream in streams:
                info = client.xinfo_stream(stream)
                first, last = info.get("first-entry"), info.get("last-entry")
                table.add_row(
                    stream.removeprefix(f"{keys.namespace}:stream:"), f"{info['length']:,}",
                    _time(int(first[0].split(b"-")[0])) if first else "-",
                    _time(int(last[0].split(b"-")[0])) if last else "-",
                )
            console.print(table if streams else "no streams recorded yet")
            if any(stream.split(":")[-2] == "bookTicker" for stream in streams):
                console.print("(spot bookTicker frames carry no exchange time: their times are receive times)")
            for book_key in sorted(key.decode() for key in client.scan_iter(match=f"{keys.namespace}:book:*")):
                book = client.hgetall(book_key)
                bids, asks = msgspec.json.decode(book[b"bids"]), msgspec.json.decode(book[b"asks"])
                best_bid = f"{bids[0][0]} x {bids[0][1]}" if bids else "-"
                best_ask = f"{asks[0][0]} x {asks[0][1]}" if asks else "-"
                crossed = " [red]CROSSED[/]" if book.get(b"crossed") == b"1" else ""
                console.print(f"book {book_key.rsplit(':', 1)[1]}: bid {best_bid} | ask {best_ask} (update {book[b'last_update_id'].decode()}){crossed}")
            states: dict[str, int] = {}
            for _, fields in client.xrange(keys.gaps()):
                state = msgspec.json.decode(fields[b"event"])["state"]
                states[state] = states.get(state, 0) + 1
            console.print("gaps: " + (", ".join(f"{count} {state}" for state, count in sorted(states.items())) or "none"))
            show_trading(client, keys, console)
        finally:
            client.close()
    return 0


def send_command(settings: Settings, command: str, reason: str) -> str:
    """Adds an operator command to the engine's command stream; returns its entry id."""
    keys = RedisKeys(settings.redis.namespace)
    with redis_url_of(settings) as (url, _):
        with redis.Redis.from_url(url, socket_connect_timeout=settings.redis.connect_timeout_seconds) as client:
            return client.xadd(keys.commands(), {"command": command, "reason": reason}).decode()
