"""The shutdown deadline's shares and the last-resort exit (bot.shutdown)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from bot.shutdown import EXIT_FORCED, HardExit, ShutdownDeadline


class SteppedClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_step_has_until_its_point_in_the_one_grace_period():
    clock = SteppedClock()
    deadline = ShutdownDeadline(10.0, clock)
    assert deadline.until(0.2) == 2.0 and deadline.left() == 10.0
    clock.now += 0.5  # the first step took half a second: the next has the rest of its share
    assert deadline.until(0.2) == 1.5
    assert deadline.until(0.55) == 5.0
    clock.now += 6.0  # a step overran: the ones due earlier have nothing left, never a negative time
    assert deadline.until(0.55) == 0.0
    assert deadline.left() == 3.5 and deadline.elapsed() == 6.5
    clock.now += 5.0
    assert deadline.left() == 0.0


def test_a_disarmed_watchdog_does_not_fire_and_an_armed_one_runs_the_last_resorts_first():
    order: list[str] = []
    fired = threading.Event()

    def record_exit(code: int) -> None:
        order.append(f"exit {code}")
        fired.set()

    watchdog = HardExit(record_exit)
    watchdog.arm(0.05, 9, "never")
    watchdog.disarm()
    assert not fired.wait(0.2) and order == []

    # Disarming with an older arming's token leaves the newer one (a second signal's) armed.
    first = watchdog.arm(5.0, 9, "replaced")
    watchdog.arm(5.0, 9, "kept")
    watchdog.disarm(first)
    assert watchdog._timer is not None and watchdog._timer is not first
    watchdog.disarm()
    assert watchdog._timer is None

    watchdog.add_last_resort(lambda: order.append("first registered"))
    watchdog.add_last_resort(lambda: order.append("second registered"))
    watchdog.add_last_resort(lambda: 1 / 0)  # a failing last resort does not stop the exit
    watchdog.arm(0.05, EXIT_FORCED, "the shutdown took too long", describe=lambda: {"step": "flush"})
    assert fired.wait(2)
    assert order == ["second registered", "first registered", f"exit {EXIT_FORCED}"]
    assert watchdog.fired_code == EXIT_FORCED


def test_the_watchdog_ends_a_process_stuck_in_a_blocking_call():
    program = textwrap.dedent("""
        import time
        from bot.logging_setup import configure_logging
        from bot.shutdown import process_exit, EXIT_FORCED
        configure_logging("INFO", "json")
        process_exit.arm(0.3, EXIT_FORCED, "shutdown exceeded the grace period", describe=lambda: {"step": "archive"})
        time.sleep(30)  # a blocking call nothing can interrupt from the event loop
    """)
    completed = subprocess.run([sys.executable, "-c", program], check=False, capture_output=True, text=True, timeout=20)
    assert completed.returncode == EXIT_FORCED
    output = completed.stdout + completed.stderr
    assert "exiting now: shutdown exceeded the grace period" in output and '"step": "archive"' in output
