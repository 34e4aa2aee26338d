"""The daily summary reads the committed ledger in a real Redis and keeps its baseline there, so
the next day's PnL is the change since this summary, across a restart (constructed ledger values)."""

from __future__ import annotations

from bot.alerts.sources import DailySummary
from bot.bus.redis_keys import RedisKeys
from bot.clock import ManualClock

KEYS = RedisKeys("summary-test")
DAY_NS = 86_400 * 1_000_000_000
MIDNIGHT = 1_723_161_600 * 1_000_000_000  # 2024-08-09T00:00:00Z


async def test_pnl_trades_and_guard_counts_since_the_last_summary(redis_client):
    clock = ManualClock(MIDNIGHT)
    counts = {"HIGH": 3, "CRITICAL": 1}
    summary = DailySummary(redis_client, KEYS, lambda alert: None, clock, 0, lambda: counts)
    await redis_client.hset(KEYS.account(), mapping={"equity": "10012.50000000", "trading_state": "ACTIVE",
                                                     "realized_pnl": "12.5", "unrealized_pnl": "0"})
    for second in (20, 10):  # two fills in the day before
        await redis_client.xadd(KEYS.fills(), {"fill": b"{}"}, id=f"{MIDNIGHT // 1_000_000 - second * 1000}-0")
    first = await summary.summary()
    assert first.kind == "daily_summary" and first.details["trades"] == "2"
    assert "PnL n/a (first summary)" in first.message and first.details["guard_high"] == "3"

    # A day later, after a restart (a new DailySummary over the same Redis): PnL against the stored equity.
    clock.advance(DAY_NS)
    counts = {"HIGH": 1, "CRITICAL": 0}  # a restarted daemon counts from zero
    await redis_client.hset(KEYS.account(), "equity", "9990.25000000")
    await redis_client.xadd(KEYS.fills(), {"fill": b"{}"}, id=f"{(MIDNIGHT + DAY_NS) // 1_000_000 - 5000}-0")
    second = await DailySummary(redis_client, KEYS, lambda alert: None, clock, 0, lambda: counts).summary()
    assert second.details["pnl"] == "-22.25000000" and second.details["trades"] == "1"
    assert second.message.startswith("since 2024-08-09 00:00 UTC: PnL -22.25000000, 1 trades, equity 9990.25000000")
    assert second.details["guard_high"] == "1" and second.details["guard_critical"] == "0"
