"""Data-quality guard: the real BTCUSDT recording (whose recorder clock ran about 1.3 s behind
Binance, see the shared SOURCES.md), and constructed cases (labelled)."""

from __future__ import annotations

from decimal import Decimal

from guard_data import at, btc_recording_events, constructed_book, constructed_trade

from bot.domain.events import MILLISECONDS, DepthUpdate
from bot.domain.trading import GuardLevel
from bot.guards import DataQualityGuard

SYMBOL = "TESTUSDT"


def test_real_recording_shows_the_recorders_clock_skew_then_staleness() -> None:
    """Every trade and depth frame reached the recorder 1.25-1.28 s *before* its exchange time:
    the recorder's clock was behind. The smallest sample of the last 10 s is -1276.56 ms: beyond
    the 1 s limit (MODERATE: Binance would reject orders stamped like that soon). The feed has no
    silence of 10 s; 15 s after the last event it is stale (HIGH), after 61 s dead (CRITICAL)."""
    guard = DataQualityGuard("BTCUSDT")
    events = btc_recording_events()
    for event in events:
        guard.observe(event)
        verdict = guard.verdict(event.ts_init)
        assert verdict.level == GuardLevel.MODERATE and verdict.reasons[0].startswith("clock_skew_ms=-12")
    last = events[-1].ts_init
    assert guard.verdict(last).reasons == ("clock_skew_ms=-1276.56<-1000.00",)
    stale = guard.verdict(last + 15_000 * MILLISECONDS)
    assert stale.level == GuardLevel.HIGH and stale.reasons[0] == "silence_ms=15000>10000"
    assert guard.verdict(last + 61_000 * MILLISECONDS).level == GuardLevel.CRITICAL


def test_constructed_fresh_data_with_ordinary_latency_is_normal() -> None:
    guard = DataQualityGuard(SYMBOL)
    for second in range(30):
        guard.observe(constructed_trade(second, "100", latency_ms=40 + second % 7 * 30))
        guard.observe(constructed_book(second + 0.5, "99.99", "100.01"))
    verdict = guard.verdict(at(30))
    assert verdict.level == GuardLevel.NORMAL and verdict.reasons == ()
    assert guard.skew_ms() == 40.0


def test_constructed_one_delayed_frame_does_not_fake_skew_but_steady_lateness_does() -> None:
    guard = DataQualityGuard(SYMBOL)
    guard.observe(constructed_trade(0, "100", latency_ms=30))
    guard.observe(constructed_trade(1, "100", latency_ms=8_000))  # a hiccup
    assert guard.verdict(at(9)).level == GuardLevel.NORMAL
    for second in range(20, 40):  # every frame 6 s late: our clock ahead or the feed lagging
        guard.observe(constructed_trade(second, "100", latency_ms=6_000))
    verdict = guard.verdict(at(46))
    assert verdict.level == GuardLevel.HIGH and verdict.reasons == ("clock_skew_ms=6000.00>5000.00",)


def test_constructed_crossed_book_and_impossible_trade_are_critical() -> None:
    guard = DataQualityGuard(SYMBOL)
    guard.observe(constructed_book(0, "100.05", "100.01"))
    guard.observe(constructed_trade(0.1, "0", "1"))
    verdict = guard.verdict(at(0.2))
    assert verdict.level == GuardLevel.CRITICAL
    assert verdict.reasons == ("crossed_book:bid=100.05>=ask=100.01", "non_positive_trade:price=0:quantity=1")


def test_constructed_spot_book_tickers_and_depth_count_for_freshness_only_where_timed() -> None:
    guard = DataQualityGuard(SYMBOL)
    guard.observe(constructed_book(0, "99.99", "100.01"))  # ts_event == ts_init: no skew sample
    assert guard.skew_ms() is None
    depth = DepthUpdate(symbol=SYMBOL, ts_event=at(1), ts_init=at(1) - 2_000 * MILLISECONDS, first_update_id=1,
                        final_update_id=2, previous_final_update_id=-1, bids=((Decimal("99.99"), Decimal(1)),), asks=())
    guard.observe(depth)
    assert guard.skew_ms() == -2000.0
    assert guard.verdict(at(1)).level == GuardLevel.MODERATE
