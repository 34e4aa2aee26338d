"""Alert sources, from constructed engine outputs and stream states (constructed cases), and the
alerts settings' validation messages."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from bot.alerts.sources import DailySummary, EngineAlerts, StreamHealthAlerts
from bot.clock import ManualClock
from bot.config.alerts import AlertSettings, TelegramSettings
from bot.domain.trading import Fill, GuardLevel, Liquidity, Order, OrderStatus, OrderType, Recommendation, Side
from bot.engine.records import EngineOutputs, StateChange, SymbolAssessment

SECOND = 1_000_000_000
START = 1_723_161_240 * SECOND  # 2024-08-08T23:54:00Z, the bundled recording's first minute


def order(identifier: str, status: OrderStatus, order_type: OrderType = OrderType.MARKET, **fields) -> Order:
    return Order(client_order_id=identifier, symbol="BTCUSDT", side=Side.BUY, order_type=order_type,
                 quantity=Decimal("0.00821"), price=fields.pop("price", None), status=status, strategy="sma_cross", **fields)


def fill(identifier: str, number: int, price: str, quantity: str) -> Fill:
    return Fill(fill_id=f"{identifier}-{number}", client_order_id=identifier, symbol="BTCUSDT", side=Side.BUY,
                price=Decimal(price), quantity=Decimal(quantity), fee=Decimal("0.03"), fee_asset="USDT",
                liquidity=Liquidity.TAKER, ts=START)


def assessment(level: GuardLevel, reasons=("pump_and_dump: +4.1% in 60 s on 9x volume",)) -> SymbolAssessment:
    return SymbolAssessment(symbol="BTCUSDT", ts=START, level=level, action="block_entries",
                            recommendation=Recommendation.AVOID, reasons=tuple(reasons), verdicts=())


def collect():
    alerts = []
    return alerts, EngineAlerts(alerts.append, ManualClock(START))


def test_fills_are_one_alert_per_order_with_the_average_price_and_fees():
    alerts, source = collect()
    outputs = EngineOutputs()
    outputs.orders["o1"] = order("o1", OrderStatus.FILLED, filled_quantity=Decimal("0.00821"))
    outputs.fills += [fill("o1", 1, "61000.00", "0.005"), fill("o1", 2, "61010.00", "0.00321")]
    source.after_commit(outputs)
    [alert] = alerts
    assert alert.kind == "order_filled" and alert.severity == "info"
    assert alert.message == "BUY 0.00821 BTCUSDT at 61003.91 filled"  # (0.005*61000 + 0.00321*61010) / 0.00821
    assert alert.details["fee"] == "0.06 USDT" and alert.details["strategy"] == "sma_cross"
    source.after_commit(outputs)  # the same order and state committed again (a restart's replay)
    assert len(alerts) == 1


def test_rejections_and_resting_orders():
    alerts, source = collect()
    outputs = EngineOutputs()
    outputs.orders["o2"] = order("o2", OrderStatus.REJECTED, reject_reason="NOTIONAL: below minimum 5 USDT")
    outputs.orders["o3"] = order("o3", OrderStatus.NEW, OrderType.LIMIT, price=Decimal("60000.00"))
    source.after_commit(outputs)
    assert [(a.kind, a.severity) for a in alerts] == [("order_rejected", "warning"), ("order_placed", "info")]
    assert alerts[0].message.endswith("rejected: NOTIONAL: below minimum 5 USDT")
    assert alerts[1].message == "BUY 0.00821 BTCUSDT LIMIT at 60000.00 placed"


def test_guard_alerts_fire_on_a_rise_into_high_or_critical_only():
    alerts, source = collect()
    levels = [GuardLevel.MODERATE, GuardLevel.HIGH, GuardLevel.HIGH, GuardLevel.CRITICAL, GuardLevel.NORMAL, GuardLevel.HIGH]
    for level in levels:
        outputs = EngineOutputs()
        outputs.assessments["BTCUSDT"] = assessment(level)
        source.after_commit(outputs)
    assert [(a.kind, a.severity) for a in alerts] == [
        ("guard_high", "warning"), ("guard_critical", "critical"), ("guard_high", "warning"),
    ]
    assert alerts[0].message == "BTCUSDT guards HIGH: pump_and_dump: +4.1% in 60 s on 9x volume"
    assert source.guard_counts == {"HIGH": 2, "CRITICAL": 1}


def test_a_halt_is_critical_a_resume_is_info():
    alerts, source = collect()
    outputs = EngineOutputs()
    outputs.state_changes += [
        StateChange(ts=START, previous="ACTIVE", state="HALTED", cause="operator", reason="telegram /halt from chat 1"),
        StateChange(ts=START, previous="HALTED", state="ACTIVE", cause="operator", reason="resume"),
    ]
    source.after_commit(outputs)
    assert [(a.severity, a.message) for a in alerts] == [
        ("critical", "TradingState ACTIVE → HALTED: telegram /halt from chat 1"),
        ("info", "TradingState HALTED → ACTIVE: resume"),
    ]


def test_a_stream_is_alerted_once_past_the_limit_and_once_when_it_recovers():
    clock = ManualClock(START)
    stale: set[str] = set()
    alerts = []
    health = StreamHealthAlerts(lambda: set(stale), alerts.append, clock, limit_seconds=120)
    stale.add("btcusdt@trade")
    for _ in range(119):  # stale, but not yet for the limit
        clock.advance(SECOND)
        health.check()
    assert alerts == []
    clock.advance(SECOND)
    health.check()
    clock.advance(SECOND)
    health.check()
    [late] = alerts
    assert late.kind == "stream_stale" and late.details["streams"] == "btcusdt@trade"
    assert late.message == "1 stream(s) silent or disconnected for over 120 s: btcusdt@trade"
    stale.clear()
    clock.advance(SECOND)
    health.check()
    assert [a.kind for a in alerts] == ["stream_stale", "stream_recovered"]
    assert alerts[1].message == "1 stream(s) delivering again after up to 121 s: btcusdt@trade"  # seen stale from its first check
    stale.add("btcusdt@bookTicker")  # a short stall under the limit: nothing
    clock.advance(30 * SECOND)
    health.check()
    stale.clear()
    health.check()
    assert len(alerts) == 2


def test_the_daily_summary_is_due_at_the_configured_utc_minute():
    summary = DailySummary(None, None, lambda alert: None, ManualClock(START), 0, dict)
    assert summary.next_due_ns(START) == 1_723_161_600 * SECOND  # 2024-08-09T00:00:00Z
    assert summary.next_due_ns(1_723_161_600 * SECOND) == (1_723_161_600 + 86_400) * SECOND  # exactly due: the next day
    evening = DailySummary(None, None, lambda alert: None, ManualClock(START), 21 * 60 + 30, dict)
    assert evening.next_due_ns(START) == (1_723_161_600 + 77_400) * SECOND  # 2024-08-09T21:30:00Z


@pytest.mark.parametrize(("settings", "message"), [
    ({"telegram": {"enabled": True, "chat_ids": [1]}}, "has no bot_token: set TRADEBOT_ALERTS__TELEGRAM__BOT_TOKEN"),
    ({"telegram": {"enabled": True, "bot_token": "1:x"}}, "chat_ids is empty"),
    ({"daily_summary_at": "24:00"}, "expected HH:MM (UTC, 24-hour)"),
    ({"kinds": {"order_filed": False}}, "order_filled"),
    ({"webhooks": [{"name": "ops", "url": "ftp://x"}]}, "must start with https:// or http://"),
    ({"webhooks": [{"name": "ops", "url": "http://a"}, {"name": "ops", "url": "http://b"}]}, "webhook name 'ops' is used twice"),
    ({"apprise": {"enabled": True}}, "apprise is enabled but has no urls"),
])
def test_bad_alert_settings_are_refused_with_a_reason(settings, message):
    with pytest.raises(ValidationError) as refused:
        AlertSettings(**settings)
    assert message in str(refused.value)


def test_commands_default_to_the_alert_chats():
    assert TelegramSettings(chat_ids=(1, 2)).command_chat_ids == {1, 2}
    assert TelegramSettings(chat_ids=(1, 2), allowed_chat_ids=(3,)).command_chat_ids == {3}
