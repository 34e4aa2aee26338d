"""The guard policy (levels -> actions and recommendations), settings validation, build_guards."""

from __future__ import annotations

from decimal import Decimal

import pydantic
import pytest
from guard_data import btc_recording_events

from bot.domain.trading import GuardLevel, GuardVerdict, Recommendation, SignalAction
from bot.guards import (
    GuardAction,
    GuardSettings,
    PolicySettings,
    build_guards,
    evaluate_policy,
)


def verdict(guard: str, level: GuardLevel, *reasons: str) -> GuardVerdict:
    return GuardVerdict(guard=guard, symbol="TESTUSDT", level=level, reasons=reasons, ts=1)


def test_critical_avoids_and_blocks_entries_with_the_worst_reasons_first() -> None:
    outcome = evaluate_policy(
        [verdict("extreme_move", GuardLevel.MODERATE, "move_5m_pct=3.20>3.00"),
         verdict("data_quality", GuardLevel.CRITICAL, "silence_ms=61000>60000"),
         verdict("suspicious_spread", GuardLevel.NORMAL)],
        SignalAction.BUY,
    )
    assert outcome.level == GuardLevel.CRITICAL and outcome.action == GuardAction.AVOID
    assert outcome.recommendation == Recommendation.AVOID
    assert not outcome.allow_entries and outcome.size_multiplier == Decimal(0) and not outcome.close_position
    assert outcome.reasons == ("data_quality:silence_ms=61000>60000", "extreme_move:move_5m_pct=3.20>3.00")


def test_critical_can_ask_to_close_the_position() -> None:
    settings = PolicySettings(close_position_on_critical=True)
    outcome = evaluate_policy([verdict("pump_dump", GuardLevel.CRITICAL, "dump_retrace=0.56>0.50")], None, settings)
    assert outcome.close_position and not outcome.allow_entries


def test_high_is_caution_with_the_configured_size_multiplier() -> None:
    outcome = evaluate_policy([verdict("abnormal_volume", GuardLevel.HIGH, "volume_z=9.00>7.50")], SignalAction.BUY)
    assert outcome.action == GuardAction.CAUTION and outcome.recommendation == Recommendation.CAUTION
    assert outcome.allow_entries and outcome.size_multiplier == Decimal("0.5")
    custom = evaluate_policy([verdict("abnormal_volume", GuardLevel.HIGH)], None, PolicySettings(caution_size_multiplier=Decimal("0.25")))
    assert custom.size_multiplier == Decimal("0.25")


def test_moderate_is_monitor_at_full_size() -> None:
    outcome = evaluate_policy([verdict("wash_trading", GuardLevel.MODERATE, "echo_trades=12>10")], SignalAction.SELL)
    assert outcome.action == GuardAction.MONITOR and outcome.recommendation == Recommendation.MONITOR
    assert outcome.allow_entries and outcome.size_multiplier == Decimal(1)
    assert outcome.reasons == ("wash_trading:echo_trades=12>10",)


@pytest.mark.parametrize(("signal", "expected"), [
    (SignalAction.BUY, Recommendation.BUY_RECOMMENDED),
    (SignalAction.SELL, Recommendation.SELL_RECOMMENDED),
    (SignalAction.HOLD, Recommendation.MONITOR),
    (None, Recommendation.MONITOR),
])
def test_normal_and_low_markets_follow_the_signal(signal, expected) -> None:
    outcome = evaluate_policy([verdict("extreme_move", GuardLevel.LOW, "move_5m_pct=2.40>2.25"),
                               verdict("pump_dump", GuardLevel.NORMAL)], signal)
    assert outcome.action == GuardAction.ALLOW and outcome.recommendation == expected
    assert outcome.reasons == ("extreme_move:move_5m_pct=2.40>2.25",)  # LOW is above NORMAL: reported
    assert evaluate_policy([], signal).recommendation == expected


def test_real_recording_through_every_guard_gives_monitor() -> None:
    """On the real BTCUSDT recording only the recorder's clock skew (MODERATE) stands out, so a
    BUY signal at the end is MONITOR, not BUY_RECOMMENDED, at full size."""
    guards = build_guards("BTCUSDT")
    events = btc_recording_events()
    for event in events:
        for guard in guards:
            guard.observe(event)
    outcome = evaluate_policy([guard.verdict(events[-1].ts_init) for guard in guards], SignalAction.BUY)
    assert outcome.recommendation == Recommendation.MONITOR
    assert outcome.reasons == ("data_quality:clock_skew_ms=-1276.56<-1000.00",)
    assert outcome.size_multiplier == Decimal(1)


def test_build_guards_respects_enabled_and_keeps_a_fixed_order() -> None:
    names = [guard.name for guard in build_guards("BTCUSDT")]
    assert names == ["data_quality", "extreme_move", "abnormal_volume", "suspicious_spread", "pump_dump", "wash_trading"]
    settings = GuardSettings.model_validate({"wash_trading": {"enabled": False}, "pump_dump": {"enabled": False}})
    assert [guard.name for guard in build_guards("BTCUSDT", settings)] == names[:4]
    assert all(guard.symbol == "BTCUSDT" for guard in build_guards("BTCUSDT"))


@pytest.mark.parametrize(("section", "message"), [
    ({"extreme_move": {"windows": [{"seconds": 0, "limit_pct": 3}]}}, "extreme_move.windows.0.seconds"),
    ({"abnormal_volume": {"min_baseline_bars": 100}}, "min_baseline_bars (100) cannot exceed baseline_bars (60)"),
    ({"data_quality": {"stale_ms": 70_000}}, "dead_ms (60000) must be above stale_ms (70000)"),
    ({"suspicious_spread": {"escalation": {"high": 3, "critical": 2}}}, "critical (2.0) must be above high (3.0)"),
    ({"policy": {"caution_size_multiplier": "1.5"}}, "policy.caution_size_multiplier"),
    ({"spreads": {}}, "spreads"),
])
def test_settings_errors_name_the_parameter_and_reason(section, message) -> None:
    with pytest.raises(pydantic.ValidationError) as error:
        GuardSettings.model_validate(section)
    assert message in str(error.value)


def test_settings_are_frozen() -> None:
    settings = GuardSettings()
    with pytest.raises(pydantic.ValidationError):
        settings.policy.caution_size_multiplier = Decimal("0.9")  # type: ignore[misc]
