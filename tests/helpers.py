"""Helpers shared by tests: `from helpers import free_port` (pytest puts tests/ on sys.path)."""

from __future__ import annotations

from bot.bus.redis_server import find_free_port


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago; bind it promptly, someone else may take it."""
    return find_free_port(host)
