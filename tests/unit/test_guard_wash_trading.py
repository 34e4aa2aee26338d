"""Wash-trading guard: the real BTCUSDT trade stream, and constructed cases (labelled)."""

from __future__ import annotations

from guard_data import btc_recording_events, constructed_trade

from bot.domain.events import Trade
from bot.domain.trading import GuardLevel
from bot.guards import WashTradingGuard, WashTradingSettings

SYMBOL = "TESTUSDT"


def test_real_btc_trades_are_normal_by_default() -> None:
    """Real BTCUSDT flow: the most common size in any 10 s window (0.00009 BTC, about the
    minimum notional) is at most 38% of the trades there, under the 45% LOW mark; only 3
    echo trades in 11 minutes; every minute moved at least 5 bps. So NORMAL throughout."""
    guard = WashTradingGuard("BTCUSDT")
    largest_share, largest_echoes = 0.0, 0.0
    for event in btc_recording_events():
        guard.observe(event)
        if type(event) is Trade:
            assert guard.verdict(event.ts_init).level == GuardLevel.NORMAL
            measures = guard.measures()
            if measures["largest_equal_size_count"] >= 30:
                largest_share = max(largest_share, measures["equal_size_share"])
            largest_echoes = max(largest_echoes, measures["echo_trades"])
    assert 0.30 < largest_share < 0.39
    assert largest_echoes == 1.0


def test_real_btc_min_notional_bursts_show_under_a_tight_share() -> None:
    """The same stream with equal_size_share 0.3: the 0.00009 BTC bursts of 23:54:19 (30 of 89
    trades in 10 s, 34%) cross it, MODERATE - the heuristic measures what is really there."""
    guard = WashTradingGuard("BTCUSDT", WashTradingSettings(equal_size_share=0.3))
    first = None
    for event in btc_recording_events():
        guard.observe(event)
        if type(event) is Trade and first is None and guard.verdict(0).level >= GuardLevel.MODERATE:
            first = (event.trade_id, guard.verdict(0).reasons)
    assert first == (3735683347, ("equal_size_share=0.34>0.30",))


def test_constructed_equal_size_burst_triggers() -> None:
    guard = WashTradingGuard(SYMBOL)
    for index in range(40):  # 40 trades of 0.5 in 8 s, prices varying, sides alternating by price
        guard.observe(constructed_trade(index * 0.2, 100 + (index % 7) * 0.01, "0.5", buyer_is_maker=index % 3 == 0))
    verdict = guard.verdict(0)
    assert verdict.level == GuardLevel.HIGH and verdict.reasons == ("equal_size_share=1.00>0.90",)


def test_constructed_echo_trades_trigger() -> None:
    guard = WashTradingGuard(SYMBOL)
    for index in range(13):  # same price and size, sides alternating: 12 echoes
        guard.observe(constructed_trade(index * 2, "100", "0.3", buyer_is_maker=index % 2 == 0))
    verdict = guard.verdict(0)
    assert verdict.level == GuardLevel.MODERATE and verdict.reasons == ("echo_trades=12>10",)


def test_constructed_flat_volume_and_two_heuristics_are_critical() -> None:
    guard = WashTradingGuard(SYMBOL)
    for minute in range(12):  # a normal market: 1 a minute, moving 10 bps a minute
        for index in range(4):
            guard.observe(constructed_trade(minute * 60 + index * 15 + 1, 100 + minute * 0.1 + index * 0.03, f"0.2{index}"))
    for index in range(60):  # then 60 in a minute at one price, echoing: flat volume + echoes
        guard.observe(constructed_trade(12 * 60 + index + 0.5, "101.5", "0.5", buyer_is_maker=index % 2 == 0))
    guard.observe(constructed_trade(13 * 60 + 1, "101.6", "0.21"))  # closes the flat minute
    verdict = guard.verdict(0)
    assert verdict.level == GuardLevel.CRITICAL
    assert verdict.reasons[0].startswith("flat_volume_ratio=") and verdict.reasons[1] == "flat_range_bps=0.00<=2.00"
    assert verdict.reasons[2:] == ("echo_trades=59>15", "wash_heuristics=2>=2")


def test_constructed_varied_flow_does_not_trigger() -> None:
    guard = WashTradingGuard(SYMBOL)
    for index in range(600):  # 10 minutes, sizes cycling over 13 values, price walking
        price = 100 + (index % 17) * 0.05
        guard.observe(constructed_trade(index, price, f"0.{index % 13 + 1:02d}", buyer_is_maker=index % 2 == 0))
    verdict = guard.verdict(0)
    assert verdict.level == GuardLevel.NORMAL and verdict.reasons == ()
