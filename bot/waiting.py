"""Waiting for the first of several things in asyncio."""

from __future__ import annotations

import asyncio


async def first_of(*signals: asyncio.Event | asyncio.Future, timeout: float | None = None) -> None:
    """Until one event is set or one future or task is done, or `timeout` seconds have passed.
    Never cancels the futures and tasks it was given: they belong to the caller."""
    waiters = [asyncio.ensure_future(signal.wait()) if isinstance(signal, asyncio.Event) else signal for signal in signals]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for signal, waiter in zip(signals, waiters):
            if waiter is not signal:
                waiter.cancel()
