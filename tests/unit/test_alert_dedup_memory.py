"""The dispatcher's deduplication memory under a flood (constructed alerts, no channel).

A flood of distinct alerts must cost the same per alert however many came before: the memory is
pruned from its oldest end only, never rebuilt whole on a publish (scripts/bench_alerts.py found
the rebuild costing 1.4-2 ms per alert once it held more than 10,000, on the engine's loop).
"""

from __future__ import annotations

import time

from bot.alerts import Alert
from bot.alerts.dispatcher import AlertDispatcher
from bot.alerts.metrics import AlertMetrics
from bot.clock import ManualClock
from bot.config.alerts import AlertSettings

SECOND = 1_000_000_000


def flood_alert(number: int) -> Alert:
    return Alert(kind="order_placed", severity="info", message=f"constructed flood alert {number}", at_ns=number)


def dispatcher(clock: ManualClock) -> tuple[AlertDispatcher, AlertMetrics]:
    metrics = AlertMetrics()
    return AlertDispatcher(AlertSettings(dedup_window_seconds=300), [], clock, metrics), metrics


def duplicates(metrics: AlertMetrics) -> float:
    return metrics.registry.get_sample_value("tradebot_alerts_suppressed_total", {"kind": "order_placed", "reason": "duplicate"}) or 0.0


def test_a_repeat_within_the_window_is_suppressed_and_one_after_it_goes_through():
    clock = ManualClock(1_000 * SECOND)
    alerts, metrics = dispatcher(clock)
    assert alerts.publish(flood_alert(1))
    for number in range(2, 5_000):
        clock.advance(SECOND // 100)
        assert alerts.publish(flood_alert(number))
    assert not alerts.publish(flood_alert(1))  # 50 s later, within the 300 s window
    assert duplicates(metrics) == 1
    clock.advance(300 * SECOND)
    assert alerts.publish(flood_alert(1))  # the window has passed
    assert alerts.publish(flood_alert(4_000))
    assert duplicates(metrics) == 1


def test_the_memory_stays_at_10000_alerts_when_a_flood_stays_within_the_window():
    clock = ManualClock(1_000 * SECOND)
    alerts, _ = dispatcher(clock)
    for number in range(25_000):
        clock.advance(SECOND // 1_000)  # 25 s in all: everything is within the window
        alerts.publish(flood_alert(number))
    assert len(alerts._last_sent) == 10_000
    assert not alerts.publish(flood_alert(24_999))  # the newest are the ones remembered
    assert alerts.publish(flood_alert(0))  # the oldest were forgotten first


def test_publishing_costs_the_same_per_alert_after_20000_as_after_none():
    clock = ManualClock(1_000 * SECOND)
    alerts, _ = dispatcher(clock)

    def thousand(start: int) -> float:
        began = time.perf_counter()
        for number in range(start, start + 1_000):
            clock.advance(SECOND // 1_000)
            alerts.publish(flood_alert(number))
        return time.perf_counter() - began

    first = min(thousand(0), thousand(1_000))
    for start in range(2_000, 20_000, 1_000):
        thousand(start)
    last = min(thousand(20_000), thousand(21_000))
    # Rebuilding the whole memory on each publish made the later thousands 50-100 times slower.
    assert last < 5 * first, (first, last)
