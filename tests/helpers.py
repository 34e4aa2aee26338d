"""Helpers shared by tests: `from helpers import free_port` (pytest puts tests/ on sys.path)."""

from __future__ import annotations

import random
import socket

from bot.bus.redis_server import find_free_port


# Below Linux's ephemeral range (32768-60999): a port the OS hands out for a bind to port 0
# (the replay exchange's, Redis clients') can then never be the one a test picked here.
_FIXED_PORTS = range(20_000, 32_000)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago; bind it promptly, someone else may take it."""
    for _ in range(200):
        port = random.choice(_FIXED_PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    return find_free_port(host)
