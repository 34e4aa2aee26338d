"""Extreme-move guard: real daily and minute klines, the real BTCUSDT trade recording, and
constructed cases (labelled) that must and must not trigger."""

from __future__ import annotations

import datetime

from guard_data import TEST_DATA, btc_recording_events, constructed_trade, read_klines

from bot.domain.events import Trade
from bot.domain.trading import GuardLevel
from bot.guards import ExtremeMoveGuard, ExtremeMoveSettings, MoveWindow

SYMBOL = "TESTUSDT"


def day(kline) -> str:
    return datetime.datetime.fromtimestamp(kline.open_time / 1e9, datetime.UTC).strftime("%Y-%m-%d")


def test_real_btc_daily_crash_of_2020_03_12_is_critical_and_the_next_days_are_graded() -> None:
    """BTCUSDT spot closed 2020-03-12 at 4800.00, 24 h after closing at 7934.52: -39.5%, beyond 2 x 10%.
    The rebound of 03-13 (+16.2%) is beyond 1.5 x 10% (HIGH); 03-08 (-9.6%) only approaches the
    limit (LOW). Daily bars say nothing about 5 minutes, so the 5-minute window stays at 0."""
    guard = ExtremeMoveGuard("BTCUSDT")
    levels, reasons = {}, {}
    for kline in read_klines(TEST_DATA / "spot_BTCUSDT_1d_2020-03-01_2020-03-31.csv", "BTCUSDT", "1d"):
        guard.observe(kline)
        verdict = guard.verdict(kline.ts_event)
        levels[day(kline)], reasons[day(kline)] = verdict.level, verdict.reasons
        assert guard.moves_pct()["5m"] == 0.0
    assert levels["2020-03-12"] == GuardLevel.CRITICAL
    assert reasons["2020-03-12"] == ("move_24h_pct=-39.50<-20.00",)
    assert levels["2020-03-13"] == GuardLevel.HIGH and reasons["2020-03-13"] == ("move_24h_pct=16.22>15.00",)
    assert levels["2020-03-08"] == GuardLevel.LOW and reasons["2020-03-08"] == ("move_24h_pct=-9.60<-7.50",)
    assert levels["2020-03-11"] == GuardLevel.NORMAL  # +0.5%


def test_real_dot_pump_minute_klines_flag_the_5_minute_and_24_hour_moves() -> None:
    """DOTUSDT (USD-M futures) 2024-11-24: from 00:25 to 00:30 the close went from 9.873 ... to
    10.414 (+5.48% over 5 minutes, beyond 1.5 x 3%), and 20.02% above the first bar of the slice
    (2024-11-23 22:00, the youngest history stands in for 24 h) - CRITICAL."""
    guard = ExtremeMoveGuard("DOTUSDT")
    verdicts = {}
    for kline in read_klines(TEST_DATA / "futures_um_DOTUSDT_1m_2024-11-23T2200_2024-11-24T0129.csv", "DOTUSDT", "1m"):
        guard.observe(kline)
        minute = datetime.datetime.fromtimestamp(kline.open_time / 1e9, datetime.UTC).strftime("%H:%M")
        verdicts[minute] = guard.verdict(kline.ts_event)
    assert verdicts["00:30"].level == GuardLevel.CRITICAL
    assert verdicts["00:30"].reasons == ("move_5m_pct=5.48>4.50", "move_24h_pct=20.02>20.00")
    assert verdicts["23:30"].level == GuardLevel.NORMAL  # the quiet evening before


def test_real_btc_trade_recording_stays_normal() -> None:
    """The 11-minute BTCUSDT recording (61,860.80 high, 61,556.04 low) never moves 2.25% in 5 minutes."""
    guard = ExtremeMoveGuard("BTCUSDT")
    largest = 0.0
    for event in btc_recording_events():
        guard.observe(event)
        if type(event) is Trade:
            largest = max(largest, abs(guard.moves_pct()["5m"]))
    assert 0.3 < largest < 0.5
    assert guard.verdict(0).level == GuardLevel.NORMAL


def test_constructed_fast_rise_and_fall_trigger_and_are_graded() -> None:
    guard = ExtremeMoveGuard(SYMBOL)
    guard.observe(constructed_trade(0, "100"))
    guard.observe(constructed_trade(60, "103.5"))
    verdict = guard.verdict(0)
    assert verdict.level == GuardLevel.MODERATE and verdict.reasons == ("move_5m_pct=3.50>3.00",)
    guard.observe(constructed_trade(120, "106.5"))
    assert guard.verdict(0).level == GuardLevel.CRITICAL
    falling = ExtremeMoveGuard(SYMBOL)
    falling.observe(constructed_trade(0, "100"))
    falling.observe(constructed_trade(200, "95"))
    verdict = falling.verdict(0)
    assert verdict.level == GuardLevel.HIGH and verdict.reasons == ("move_5m_pct=-5.00<-4.50",)


def test_constructed_slow_drift_does_not_trigger() -> None:
    """+0.5% every 5 minutes for an hour: about 6% over the hour, well inside both limits."""
    guard = ExtremeMoveGuard(SYMBOL)
    price = 100.0
    for step in range(13):
        guard.observe(constructed_trade(step * 300, f"{price:.4f}"))
        price *= 1.005
    verdict = guard.verdict(0)
    assert verdict.level == GuardLevel.NORMAL
    moves = guard.moves_pct()
    assert 0.45 < moves["5m"] < 0.55 and 6.0 < moves["24h"] < 6.3


def test_constructed_memory_stays_bounded_on_a_busy_stream() -> None:
    settings = ExtremeMoveSettings(windows=(MoveWindow(seconds=60, limit_pct=1.0),), samples_per_window=20)
    guard = ExtremeMoveGuard(SYMBOL, settings)
    for index in range(20_000):  # 10 trades a second for over half an hour
        guard.observe(constructed_trade(index / 10, "100"))
    assert len(guard._windows[0].samples) <= settings.samples_per_window + 2


def test_constructed_samples_older_than_the_newest_are_ignored() -> None:
    guard = ExtremeMoveGuard(SYMBOL)
    guard.observe(constructed_trade(100, "100"))
    guard.observe(constructed_trade(50, "50"))  # older than what was seen: a late kline, say
    assert guard.moves_pct()["5m"] == 0.0
