"""Suspicious-spread guard: the real BTCUSDT and NKNUSDT books, and constructed cases (labelled)."""

from __future__ import annotations

import json

from guard_data import RECORDINGS, btc_recording_events, constructed_book

from bot.domain.events import BookTicker, StreamMessage
from bot.domain.trading import GuardLevel
from bot.guards import SuspiciousSpreadGuard, SuspiciousSpreadSettings
from bot.ingest.wire import FrameDecoder

SYMBOL = "TESTUSDT"


def test_real_btc_book_is_normal_except_five_moments_of_a_5_to_10_bps_spread() -> None:
    """BTCUSDT quotes a one-cent spread (0.0016 bps) almost always. Five quotes of the recording
    open it to 5.0-10.0 bps (at 23:57:51 twice, 23:58:21, 23:58:34 and 23:59:20 UTC): at least the
    5 bps floor and thousands of times the median, so HIGH (the cap of the relative test); well
    under the 50 bps absolute limit, so never more. Every other quote is NORMAL."""
    guard = SuspiciousSpreadGuard("BTCUSDT")
    flagged = []
    for event in btc_recording_events():
        guard.observe(event)
        if type(event) is BookTicker:
            verdict = guard.verdict(event.ts_init)
            if verdict.level > GuardLevel.NORMAL:
                flagged.append((verdict.level, guard.spread()[0], verdict.reasons))
    assert len(flagged) == 5
    assert {level for level, _, _ in flagged} == {GuardLevel.HIGH}
    assert all(5.0 <= spread <= 10.1 for _, spread, _ in flagged)
    assert all(reasons[0].startswith("spread_to_median=") and reasons[0].endswith(">7.50") for _, _, reasons in flagged)
    assert 0.0016 < guard.spread()[1] < 0.0017  # the rolling median, in bps


def test_real_nknusdt_quotes_are_normal_by_default_and_flagged_under_a_tight_limit() -> None:
    """NKNUSDT (2021-10-12) quoted 8.5-19.9 bps: normal for a small coin under the 50 bps default;
    a 10 bps limit meant for majors calls its widest quote (19.9 bps, beyond 1.5 x 10) HIGH."""
    decoder = FrameDecoder()
    default, tight = SuspiciousSpreadGuard("NKNUSDT"), SuspiciousSpreadGuard("NKNUSDT", SuspiciousSpreadSettings(max_spread_bps=10))
    worst_default, worst_tight = GuardLevel.NORMAL, GuardLevel.NORMAL
    with (RECORDINGS / "spot_combined_NKNUSDT-BLZETH-LRCBTC-RUNEEUR_2021-10-12.jsonl").open("rb") as lines:
        for line in lines:
            record = json.loads(line)
            message = decoder.decode(json.dumps(record["msg"]).encode(), int(record["recv_time_s"] * 1e9))
            assert isinstance(message, StreamMessage)
            if message.event.symbol != "NKNUSDT":
                continue
            for guard in (default, tight):
                guard.observe(message.event)
            worst_default = max(worst_default, default.verdict(0).level)
            worst_tight = max(worst_tight, tight.verdict(0).level)
    assert worst_default == GuardLevel.NORMAL
    assert worst_tight == GuardLevel.HIGH


def test_constructed_crossed_and_locked_books_are_critical() -> None:
    guard = SuspiciousSpreadGuard(SYMBOL)
    guard.observe(constructed_book(0, "100.02", "100.01"))
    verdict = guard.verdict(7)
    assert verdict.level == GuardLevel.CRITICAL and verdict.reasons == ("crossed_book:bid=100.02>ask=100.01",)
    assert verdict.ts == 7 and verdict.guard == "suspicious_spread" and verdict.symbol == SYMBOL
    guard.observe(constructed_book(1, "100.01", "100.01"))
    assert guard.verdict(0).reasons == ("locked_book:bid=100.01=ask=100.01",)


def test_constructed_wide_spreads_are_graded_by_absolute_limits() -> None:
    guard = SuspiciousSpreadGuard(SYMBOL)
    guard.observe(constructed_book(0, "99.7", "100.3"))  # 60 bps
    verdict = guard.verdict(0)
    assert verdict.level == GuardLevel.MODERATE and verdict.reasons == ("spread_bps=60.00>50.00",)
    guard.observe(constructed_book(1, "99.4", "100.4"))  # 100 bps
    assert guard.verdict(0).level == GuardLevel.CRITICAL


def test_constructed_relative_blow_out_triggers_after_warm_up() -> None:
    guard = SuspiciousSpreadGuard(SYMBOL)
    for second in range(60):  # 1 bps for a minute
        guard.observe(constructed_book(second, "99.995", "100.005"))
    guard.observe(constructed_book(60.5, "99.96", "100.04"))  # 8 bps: 8 x the median
    verdict = guard.verdict(0)
    assert verdict.level == GuardLevel.HIGH and verdict.reasons == ("spread_to_median=8.00>7.50",)


def test_constructed_normal_and_sub_floor_spreads_do_not_trigger() -> None:
    guard = SuspiciousSpreadGuard(SYMBOL)
    for second in range(60):  # 0.2 bps
        guard.observe(constructed_book(second, "99.999", "100.001"))
    guard.observe(constructed_book(60.5, "99.9775", "100.0225"))  # 4.5 bps: 22 x the median, under the floor
    verdict = guard.verdict(0)
    assert verdict.level == GuardLevel.NORMAL and verdict.reasons == ()
