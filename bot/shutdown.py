"""The daemon's stop: one deadline for the whole shutdown, exit codes, and a last-resort exit.

SIGTERM starts an orderly shutdown that must end within `lifecycle.shutdown_grace_seconds`
(Docker sends SIGKILL 10 s after SIGTERM by default). Every step is bounded by its point in that
one period (`ShutdownDeadline.until`), so a step that finishes early leaves its time to the next
ones and a step that hangs is cut short, logged, and the shutdown moves on.

Exit codes of `tradebot run` (README, "Stopping"):
  0   stopped cleanly: everything received was written to Redis and committed.
  1   an error (a component crashed, a start-up problem, the namespace lease was lost): logged.
  3   stopped within the grace period, but a step ran out of time and something was left undone
      (e.g. received market data not written to Redis): each such step is logged at error.
  4   forced: a step blocked past the grace period (a hung thread or syscall the event loop
      cannot cut short); the watchdog logged it and ended the process.
  130 a second SIGINT/SIGTERM during the shutdown: exit at once, without finishing it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INCOMPLETE = 3
EXIT_FORCED = 4
EXIT_SECOND_SIGNAL = 130


class ShutdownDeadline:
    """The grace period, started when the shutdown starts, measured on a monotonic clock
    (injected, so tests can move it)."""

    def __init__(self, grace_seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.grace_seconds = grace_seconds
        self._monotonic = monotonic
        self._started = monotonic()

    def elapsed(self) -> float:
        return self._monotonic() - self._started

    def left(self) -> float:
        """Seconds until the end of the grace period (never negative)."""
        return max(0.0, self.grace_seconds - self.elapsed())

    def until(self, fraction: float) -> float:
        """Seconds until `fraction` of the grace period has gone by (never negative): the time a
        step that must be done by that point still has."""
        return max(0.0, self.grace_seconds * fraction - self.elapsed())


class HardExit:
    """A watchdog that ends the process when an orderly stop does not finish in time.

    The event loop can cut short anything that awaits, but not a blocking call in a thread or a
    stuck syscall; only `os._exit` ends those. Before it, the registered last resorts run (e.g.
    SIGTERM to the private redis-server, which then flushes its AOF and exits: `os._exit` skips
    atexit handlers and the server lives in its own session)."""

    def __init__(self, exit_function: Callable[[int], Any] = os._exit) -> None:
        self._exit = exit_function
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._last_resorts: list[Callable[[], None]] = []
        self.fired_code: int | None = None

    def add_last_resort(self, action: Callable[[], None]) -> None:
        with self._lock:
            self._last_resorts.append(action)

    def remove_last_resort(self, action: Callable[[], None]) -> None:
        with self._lock:
            if action in self._last_resorts:
                self._last_resorts.remove(action)

    def arm(self, seconds: float, code: int, reason: str, describe: Callable[[], dict[str, Any]] | None = None) -> object:
        """Ends the process with `code` in `seconds` unless disarmed; an earlier arming is replaced.
        Returns a token: `disarm(token)` leaves a later arming (e.g. a second signal's) alone."""
        timer = threading.Timer(max(0.0, seconds), self.exit_now, (code, reason, describe))
        timer.daemon = True
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = timer
        timer.start()
        return timer

    def disarm(self, token: object | None = None) -> None:
        with self._lock:
            if self._timer is not None and (token is None or token is self._timer):
                self._timer.cancel()
                self._timer = None

    def exit_now(self, code: int, reason: str, describe: Callable[[], dict[str, Any]] | None = None) -> None:
        """Logs why, runs the last resorts, flushes the output and ends the process with `code`."""
        details: dict[str, Any] = {}
        if describe is not None:
            try:
                details = describe()
            except Exception as error:  # noqa: BLE001 - the exit must happen whatever the report does
                details = {"describe_error": repr(error)}
        log.error("exiting now: " + reason, exit_code=code, **details)
        with self._lock:
            actions = list(reversed(self._last_resorts))
        for action in actions:
            try:
                action()
            except Exception:  # noqa: BLE001, S110 - best effort on the way out
                pass
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001, S110
                pass
        self.fired_code = code
        self._exit(code)


process_exit = HardExit()  # the one of this process: os._exit is process-wide too


async def finish_within(awaitable: Awaitable[object], seconds: float) -> bool:
    """Awaits it for at most `seconds`; False if the time ran out. A task is only waited for
    (shielded: its owner cancels it, and reads what it raised); a coroutine is cancelled when
    the time runs out, and what it raises propagates."""
    task = awaitable if isinstance(awaitable, asyncio.Future) else None
    try:
        # asyncio.timeout, not wait_for: with no time left, an already finished step still
        # counts as finished instead of timing out before it was looked at.
        async with asyncio.timeout(seconds):
            await (asyncio.shield(task) if task is not None else awaitable)
    except TimeoutError:
        return False
    except Exception:
        if task is None:
            raise
    return True
