"""Pump-and-dump guard: the real DOT pump of 2024-11-24 (USD-M futures 1m klines), the real
BTCUSDT trade recording, and constructed cases (labelled)."""

from __future__ import annotations

import datetime

from guard_data import TEST_DATA, btc_recording_events, constructed_trade, read_klines

from bot.domain.trading import GuardLevel
from bot.guards import PumpDumpGuard, PumpDumpSettings

SYMBOL = "TESTUSDT"


def test_real_dot_midnight_pump_then_dump_is_critical() -> None:
    """DOTUSDT 2024-11-24: the 00:02 high (8.858) is 5.1% above the 23:52 low (8.429), and the
    00:02 minute traded 832k DOT, 15x the median minute: a pump, MODERATE. The window's rise
    then runs from 9.091 (00:12) to 10.512 (00:31), 15.6%; at 00:41 the low is 9.710, 56% of the
    rise given back: a dump after a rise of over twice rise_pct, CRITICAL. The hour before is NORMAL."""
    guard = PumpDumpGuard("DOTUSDT", PumpDumpSettings(source="kline"))
    verdicts = {}
    for kline in read_klines(TEST_DATA / "futures_um_DOTUSDT_1m_2024-11-23T2200_2024-11-24T0129.csv", "DOTUSDT", "1m"):
        guard.observe(kline)
        minute = datetime.datetime.fromtimestamp(kline.open_time / 1e9, datetime.UTC).strftime("%H:%M")
        verdicts[minute] = guard.verdict(kline.ts_event)
    assert all(verdicts[f"23:{minute:02d}"].level == GuardLevel.NORMAL for minute in range(60))
    assert verdicts["00:02"].level == GuardLevel.MODERATE
    assert verdicts["00:02"].reasons == ("pump_rise_pct=5.09>5.00", "pump_volume_ratio=15.39>3.00")
    assert verdicts["00:31"].level == GuardLevel.MODERATE
    assert verdicts["00:41"].level == GuardLevel.CRITICAL
    assert verdicts["00:41"].reasons == ("pump_rise_pct=15.63>5.00", "pump_volume_ratio=3.63>3.00", "dump_retrace=0.56>0.50")


def test_real_btc_trade_recording_has_no_pump() -> None:
    """BTCUSDT moved at most 0.5% in the 11 recorded minutes: no pump. With a 3-bar warm-up the
    guard does judge, and finds the largest rise far below 3.75% (LOW)."""
    guard = PumpDumpGuard("BTCUSDT", PumpDumpSettings(min_baseline_bars=3))
    for event in btc_recording_events():
        guard.observe(event)
        assert guard.verdict(event.ts_init).level == GuardLevel.NORMAL
    assert 0.0 < guard.pump()["rise_pct"] < 0.5


def constructed_minutes(guard, prices_and_volumes, start_minute: int = 0) -> None:
    """Constructed: for each minute, 4 trades at the given price summing to the given volume."""
    for offset, (price, volume) in enumerate(prices_and_volumes):
        minute = start_minute + offset
        for index in range(4):
            guard.observe(constructed_trade(minute * 60 + index * 10 + 1, price, volume / 4))


def test_constructed_pump_then_dump_triggers() -> None:
    guard = PumpDumpGuard(SYMBOL)
    constructed_minutes(guard, [(100, 4)] * 15 + [(102, 20), (105, 30), (108, 40)])
    constructed_minutes(guard, [(107, 4)], start_minute=18)  # closes the 108 bar
    verdict = guard.verdict(0)
    assert verdict.level == GuardLevel.MODERATE  # a standing pump
    constructed_minutes(guard, [(103, 8)], start_minute=19)
    verdict = guard.verdict(0)
    assert verdict.level == GuardLevel.HIGH  # 8% up on 10x volume, then 5 of the 8 points given back
    assert verdict.reasons == ("pump_rise_pct=8.00>5.00", "pump_volume_ratio=10.00>3.00", "dump_retrace=0.62>0.50")


def test_constructed_rise_without_volume_and_a_crash_bar_do_not_trigger() -> None:
    quiet_rise = PumpDumpGuard(SYMBOL)
    constructed_minutes(quiet_rise, [(100, 4)] * 15 + [(103, 4), (106, 4), (108, 4), (103, 4), (100, 4)])
    assert quiet_rise.verdict(0).level == GuardLevel.NORMAL
    assert quiet_rise.pump()["volume_ratio"] == 1.0
    crash = PumpDumpGuard(SYMBOL)
    constructed_minutes(crash, [(100, 4)] * 15)
    for index, price in enumerate([100, 90, 89, 91]):  # one minute that opens high and crashes
        crash.observe(constructed_trade(15 * 60 + index * 10 + 1, price, 10))
    constructed_minutes(crash, [(92, 4)], start_minute=16)
    assert crash.verdict(0).level == GuardLevel.NORMAL
    assert crash.pump()["rise_pct"] < 5.0  # low-then-high inside a crash bar is not a rise
