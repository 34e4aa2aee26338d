"""Bad input to the trading side gives one clear message and loses no state.

The engine here is the one the daemon builds (`bot.engine.assembly.build_engine`) from the
shipped config, run in memory over the bundled real BTCUSDT recording with BTCUSDT's real
exchange filters.
"""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.config.sections import DEFAULT_RECORDING, RECORDINGS_DIRECTORY
from bot.domain.symbols import rules_from_exchange_info
from bot.engine.assembly import UnknownSymbolError, build_engine
from bot.engine.metrics import EngineMetrics
from bot.engine.recorded import recorded_events

ROOT = Path(__file__).parents[2]
SHIPPED = ROOT / "config/tradebot.yaml"


@pytest.fixture(scope="module")
def rules():
    with gzip.open(RECORDINGS_DIRECTORY / "spot_exchangeInfo_2021-10-12.json.gz", "rb") as file:
        return rules_from_exchange_info(json.load(file))


@pytest.fixture(scope="module")
def events():
    return recorded_events(DEFAULT_RECORDING)[:30_000]  # the first ~3 minutes: enough to trade


def write_config(tmp_path: Path, old: str, new: str) -> Path:
    text = SHIPPED.read_text()
    assert old in text
    path = tmp_path / "tradebot.yaml"
    path.write_text(text.replace(old, new))
    return path


def test_an_unknown_strategy_name_is_one_line_naming_the_key_and_the_choices(tmp_path):
    path = write_config(tmp_path, "    - name: sma_cross", "    - name: sma_crosss")
    with pytest.raises(ConfigError) as error:
        load_settings(path, {})
    message = str(error.value)
    assert "\n" not in message and "tradebot.yaml: engine.strategies[0]: " in message
    assert "unknown strategy 'sma_crosss' (available: breakout, ema_cross, ml_signal, rsi_reversion, sma_cross, taker_flow)" in message


def test_a_bad_strategy_parameter_names_the_strategy_the_parameter_and_the_reason(tmp_path):
    path = write_config(tmp_path, "fast_period: 5, slow_period: 20", "fast_period: 50, slow_period: 20")
    with pytest.raises(ConfigError) as error:
        load_settings(path, {})
    assert "strategy sma_cross: parameter fast_period: must be less than slow_period (got 50 >= 20)" in str(error.value)


def test_a_symbol_the_exchange_does_not_list_stops_start_up_with_one_message(rules):
    settings = load_settings(SHIPPED, {"TRADEBOT_INGEST__SYMBOLS": '["BTCUSDT", "NOSUCHUSDT"]'})
    with pytest.raises(UnknownSymbolError) as error:
        build_engine(settings, rules, {}, EngineMetrics())
    assert str(error.value).startswith("NOSUCHUSDT: not listed by the exchange (replay exchangeInfo)")


async def test_an_order_below_min_notional_is_refused_with_binance_text_and_moves_no_money(rules, events):
    # 8 USDT per entry: above risk's own 5 USDT floor, below BTCUSDT's MIN_NOTIONAL of 10.
    settings = load_settings(SHIPPED, {"TRADEBOT_RISK__SIZING": '{"mode": "fixed_quote", "amount": 8}'})
    engine, _ = build_engine(settings, rules, {}, EngineMetrics())
    for event in events:
        await engine.handle(event)
    outputs = engine.take_outputs()
    refused = [decision for decision in outputs.decisions if decision.order_id]
    assert refused, "the strategies never asked to buy in this window"
    assert all(decision.order_status == "REJECTED" for decision in refused)
    assert {decision.reject_reason for decision in refused} == {"-1013 Filter failure: MIN_NOTIONAL"}
    assert outputs.fills == [] and engine.portfolio.positions == {}
    assert engine.portfolio.cash() == Decimal(10_000)
    balances = await engine.broker.balances()
    assert balances["USDT"] == Decimal(10_000)
