"""Abnormal-volume guard: real 1m klines (a volume explosion, a near-empty minute), the real
BTCUSDT trade recording, and constructed cases (labelled)."""

from __future__ import annotations

import datetime

from guard_data import (
    RECORDINGS,
    TEST_DATA,
    btc_recording_events,
    constructed_book,
    constructed_trade,
    read_klines,
)

from bot.domain.trading import GuardLevel
from bot.guards import AbnormalVolumeGuard, AbnormalVolumeSettings

SYMBOL = "TESTUSDT"
KLINES = AbnormalVolumeSettings(source="kline")


def minute_verdicts(path, symbol):
    guard = AbnormalVolumeGuard(symbol, KLINES)
    verdicts = {}
    for kline in read_klines(path, symbol, "1m"):
        guard.observe(kline)
        minute = datetime.datetime.fromtimestamp(kline.open_time / 1e9, datetime.UTC).strftime("%m-%d %H:%M")
        verdicts[minute] = guard.verdict(kline.ts_event)
    return verdicts


def test_real_btc_volume_explosion_of_2025_09_22_0559_is_critical() -> None:
    """BTCUSDT spot traded 323.3 BTC in the minute 05:59 UTC after about 5 BTC a minute the hour
    before: a z-score near 48, beyond 5 x 5. The minute before was ordinary."""
    verdicts = minute_verdicts(RECORDINGS / "spot_BTCUSDT_1m_2025-09-22_2025-09-25.csv", "BTCUSDT")
    assert verdicts["09-22 05:59"].level == GuardLevel.CRITICAL
    assert verdicts["09-22 05:59"].reasons == ("volume_z=48.07>25.00",)
    assert verdicts["09-22 05:58"].level == GuardLevel.NORMAL


def test_real_btc_near_empty_minute_is_a_quiet_market() -> None:
    """2025-10-29 06:12 UTC BTCUSDT spot traded 0.62 BTC (213 trades, a one-cent range) against
    about 10 BTC a minute: 0.058 of the baseline, below quiet_ratio / 1.5 (HIGH, the cap)."""
    verdicts = minute_verdicts(TEST_DATA / "spot_BTCUSDT_1m_2025-10-29T0344_2025-10-29T0629.csv", "BTCUSDT")
    assert verdicts["10-29 06:12"].level == GuardLevel.HIGH
    assert verdicts["10-29 06:12"].reasons == ("volume_ratio=0.058<0.067",)
    assert verdicts["10-29 06:11"].level == GuardLevel.NORMAL


def test_real_btc_trade_recording_warms_up_then_flags_the_2357_volume_jump() -> None:
    """With defaults the 11 minutes of the recording never fill the 20-bar warm-up: NORMAL.
    With a 3-bar baseline, the minute 23:57 (59.3 BTC after 15.1 and 15.5; the partial first
    minute is not part of the baseline) is far above it: z = (59.3 - 15.3) / (0.25 x 15.3), about
    11.5, beyond 1.5 x 5 (HIGH) but short of 25."""
    default = AbnormalVolumeGuard("BTCUSDT")
    short = AbnormalVolumeGuard("BTCUSDT", AbnormalVolumeSettings(baseline_bars=3, min_baseline_bars=2))
    worst = GuardLevel.NORMAL
    first_flag = None
    for event in btc_recording_events():
        default.observe(event)
        short.observe(event)
        assert default.verdict(event.ts_init).level == GuardLevel.NORMAL
        verdict = short.verdict(event.ts_init)
        if verdict.level > GuardLevel.NORMAL and first_flag is None:
            first_flag = (datetime.datetime.fromtimestamp(event.ts_event / 1e9, datetime.UTC).strftime("%H:%M"), verdict)
        worst = max(worst, verdict.level)
    assert first_flag is not None
    assert first_flag[0] == "23:57"  # the forming bar already shows the jump
    assert worst == GuardLevel.HIGH
    assert short.last_bar()["baseline_bars"] == 3


def feed_steady_minutes(guard, minutes: int, trades_per_minute: int = 10) -> None:
    """Constructed: trades of alternating 0.8 / 1.2 size, `trades_per_minute` a minute."""
    for minute in range(minutes):
        for index in range(trades_per_minute):
            guard.observe(constructed_trade(minute * 60 + index * 5 + 1, "100", "0.8" if index % 2 else "1.2"))


def test_constructed_spike_is_seen_in_the_forming_bar_and_graded() -> None:
    guard = AbnormalVolumeGuard(SYMBOL)
    feed_steady_minutes(guard, 30)
    assert guard.verdict(0).level == GuardLevel.NORMAL
    for index in range(30):  # 30 more trades of 5 in the next minute: 160 against about 10
        guard.observe(constructed_trade(30 * 60 + index + 1, "100", "5"))
    verdict = guard.verdict(0)
    assert verdict.level == GuardLevel.CRITICAL
    assert verdict.reasons[0].startswith("volume_z_forming=")


def test_constructed_market_gone_quiet_while_books_update() -> None:
    guard = AbnormalVolumeGuard(SYMBOL)
    feed_steady_minutes(guard, 30)
    for second in range(30 * 60, 32 * 60 + 1, 5):  # two minutes of quotes, no trades
        guard.observe(constructed_book(second, "99.99", "100.01"))
    verdict = guard.verdict(0)
    assert verdict.level == GuardLevel.HIGH
    assert verdict.reasons == ("volume_ratio=0.000<0.067",)


def test_constructed_ordinary_variation_does_not_trigger() -> None:
    guard = AbnormalVolumeGuard(SYMBOL)
    for minute in range(40):  # 8 to 12 trades a minute, sizes 0.8 / 1.2
        for index in range(8 + minute % 5):
            guard.observe(constructed_trade(minute * 60 + index * 5 + 1, "100", "0.8" if index % 2 else "1.2"))
    guard.observe(constructed_trade(40 * 60 + 1, "100", "1"))
    assert guard.verdict(0).level == GuardLevel.NORMAL
