"""Binance filters parsed from the real exchangeInfo of 2021-10-12, rounding, and refusals."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

import pytest

from binance_data import RECORDINGS, all_rules, btcusdt_rules, depth_snapshot, exchange_info
from bot.domain.rejections import OrderRejected
from bot.domain.symbols import ceil_to_step, floor_to_step, rules_from_symbol, validate_order
from bot.domain.trading import OrderRequest, OrderType, Side

D = Decimal


def request(side: Side, quantity: str, price: str | None = None, symbol: str = "BTCUSDT") -> OrderRequest:
    return OrderRequest(
        client_order_id="t",
        symbol=symbol,
        side=side,
        order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
        quantity=D(quantity),
        price=None if price is None else D(price),
    )


def refusal(rules, order: OrderRequest, reference: Decimal | None = None) -> tuple[int, str]:
    with pytest.raises(OrderRejected) as caught:
        validate_order(rules, order, reference)
    return caught.value.code, caught.value.message


def test_btcusdt_rules_are_read_exactly_from_the_real_exchange_info() -> None:
    rules = btcusdt_rules()
    assert (rules.status, rules.base_asset, rules.quote_asset) == ("TRADING", "BTC", "USDT")
    assert (rules.tick_size, rules.min_price, rules.max_price) == (D("0.01"), D("0.01"), D("1000000"))
    assert (rules.step_size, rules.min_qty, rules.max_qty) == (D("0.00001"), D("0.00001"), D("9000"))
    assert (rules.market_step_size, rules.market_min_qty, rules.market_max_qty) == (D("0"), D("0"), D("100.05381873"))
    assert (rules.notional_filter, rules.min_notional, rules.min_notional_applies_to_market) == ("MIN_NOTIONAL", D("10"), True)
    assert rules.max_notional is None
    assert (rules.percent_price_filter, rules.bid_multiplier_up, rules.ask_multiplier_down) == ("PERCENT_PRICE", D("5"), D("0.2"))
    assert "MARKET" in rules.order_types and rules.quote_commission_precision == 8


def test_every_symbol_of_the_real_body_parses_and_symbols_without_market_lot_have_none() -> None:
    rules = all_rules()
    symbols = exchange_info()["symbols"]
    assert len(rules) == len(symbols) == 1695
    without_market_lot = [s["symbol"] for s in symbols if not any(f["filterType"] == "MARKET_LOT_SIZE" for f in s["filters"])]
    assert len(without_market_lot) == 81
    assert all(rules[symbol].market_step_size is None for symbol in without_market_lot)
    assert sum(rule.status == "BREAK" for rule in rules.values()) == 433


def test_the_2021_btcusdt_grid_still_held_in_the_2024_recording() -> None:
    """Why 2021 rules are fair for a 2024 book: every level of the 2024-08-08 snapshot and every
    trade of the bundled recording lies on tick 0.01 / step 0.00001, the smallest trade is one step."""
    rules = btcusdt_rules()
    _, bids, asks = depth_snapshot()
    assert all(price % rules.tick_size == 0 and quantity % rules.step_size == 0 for price, quantity in bids + asks)
    recording = RECORDINGS / "spot_BTCUSDT_depth100ms-bookTicker-trade_2024-08-08T2354_2024-08-09T0005.jsonl.gz"
    with gzip.open(recording, "rt", encoding="utf-8") as file:
        trades = [json.loads(line)["msg"]["data"] for line in file if '"e":"trade"' in line]
    assert len(trades) == 19_904
    assert all(D(t["p"]) % rules.tick_size == 0 and D(t["q"]) % rules.step_size == 0 for t in trades)
    assert min(D(t["q"]) for t in trades) == rules.min_qty


def test_quantities_round_down_and_limit_prices_round_to_the_passive_side() -> None:
    rules = btcusdt_rules()
    assert str(rules.round_quantity(D("0.0012349"))) == "0.00123"
    assert str(rules.round_quantity(D("0.00001999"))) == "0.00001"
    assert str(rules.round_price(D("61837.639"), Side.BUY)) == "61837.63"
    assert str(rules.round_price(D("61837.631"), Side.SELL)) == "61837.64"
    assert rules.round_price(D("61837.63"), Side.SELL) == D("61837.63")  # already on the grid


def test_grid_helpers_keep_the_steps_decimals_and_never_write_exponents() -> None:
    assert str(floor_to_step(D("12.987"), D("0.10000000"))) == "12.9"
    assert str(ceil_to_step(D("12.901"), D("0.10000000"))) == "13.0"
    assert str(floor_to_step(D("61837.64"), D("10.00000000"))) == "61830"
    assert floor_to_step(D("1.23"), D("0")) == D("1.23")  # a zero step disables the rule


def test_filter_refusals_use_binance_codes_and_texts() -> None:
    rules = all_rules()
    assert refusal(rules, request(Side.BUY, "0.001", "61830.001")) == (-1013, "Filter failure: PRICE_FILTER")
    assert refusal(rules, request(Side.BUY, "0.001", "1000000.01")) == (-1013, "Filter failure: PRICE_FILTER")
    assert refusal(rules, request(Side.BUY, "0.000005", "61830.00")) == (-1013, "Filter failure: LOT_SIZE")
    assert refusal(rules, request(Side.BUY, "9000.00001", "61830.00")) == (-1013, "Filter failure: LOT_SIZE")
    assert refusal(rules, request(Side.BUY, "0.00016", "61830.00")) == (-1013, "Filter failure: MIN_NOTIONAL")
    assert refusal(rules, request(Side.SELL, "100.06")) == (-1013, "Filter failure: MARKET_LOT_SIZE")
    assert refusal(rules, request(Side.BUY, "0.001", "61830.00", symbol="BTCUSDX")) == (-1121, "Invalid symbol.")


def test_notional_uses_the_reference_price_for_market_orders() -> None:
    rules = all_rules()
    # 0.00017 * 61837.63 = 10.51 passes; 0.00016 * 61837.63 = 9.89 does not.
    validate_order(rules, request(Side.BUY, "0.00017"), D("61837.63"))
    assert refusal(rules, request(Side.BUY, "0.00016"), D("61837.63")) == (-1013, "Filter failure: MIN_NOTIONAL")
    validate_order(rules, request(Side.BUY, "0.00016"))  # no reference price: the check is skipped


def test_percent_price_band_around_the_reference() -> None:
    rules = all_rules()
    validate_order(rules, request(Side.SELL, "0.001", "309188.15"), D("61837.63"))  # exactly 5x
    assert refusal(rules, request(Side.SELL, "0.001", "309188.16"), D("61837.63")) == (-1013, "Filter failure: PERCENT_PRICE")
    assert refusal(rules, request(Side.BUY, "1", "12367.52"), D("61837.63")) == (-1013, "Filter failure: PERCENT_PRICE")


def test_a_symbol_in_break_is_closed_and_order_parameters_are_checked() -> None:
    rules = all_rules()
    closed = next(symbol for symbol, rule in rules.items() if rule.status == "BREAK")
    assert refusal(rules, request(Side.BUY, "1", "1", symbol=closed)) == (-2010, "Market is closed.")
    limit_without_price = OrderRequest(client_order_id="t", symbol="BTCUSDT", side=Side.BUY, order_type=OrderType.LIMIT, quantity=D("0.001"))
    assert refusal(rules, limit_without_price)[0] == -1102
    market_with_price = OrderRequest(client_order_id="t", symbol="BTCUSDT", side=Side.BUY, order_type=OrderType.MARKET, quantity=D("0.001"), price=D("1"))
    assert refusal(rules, market_with_price) == (-1106, "Parameter 'price' sent when not required.")


# Constructed: the newer filters in the exact shapes Binance's filters.md documents
# (no real exchangeInfo with them is in the data set).
NOTIONAL_SYMBOL = {
    "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
    "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
        {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
        {"filterType": "NOTIONAL", "minNotional": "10.00000000", "applyMinToMarket": False,
         "maxNotional": "10000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
        {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "1.2", "bidMultiplierDown": "0.2",
         "askMultiplierUp": "5", "askMultiplierDown": "0.8", "avgPriceMins": 1},
    ],
}


def test_the_notional_filter_bounds_limits_but_not_market_orders_when_told_so() -> None:
    rules = {"BTCUSDT": rules_from_symbol(NOTIONAL_SYMBOL)}
    assert rules["BTCUSDT"].notional_filter == "NOTIONAL" and rules["BTCUSDT"].max_notional == D("10000")
    assert refusal(rules, request(Side.BUY, "0.0001", "61830.00")) == (-1013, "Filter failure: NOTIONAL")
    assert refusal(rules, request(Side.SELL, "0.2", "61830.00")) == (-1013, "Filter failure: NOTIONAL")
    validate_order(rules, request(Side.BUY, "0.0001"), D("61830"))  # applyMinToMarket false
    validate_order(rules, request(Side.SELL, "0.2"), D("61830"))  # applyMaxToMarket false


def test_percent_price_by_side_has_a_band_per_side() -> None:
    rules = {"BTCUSDT": rules_from_symbol(NOTIONAL_SYMBOL)}
    validate_order(rules, request(Side.SELL, "0.001", "74196.00"), D("61830"))  # asks may go 5x up
    assert refusal(rules, request(Side.BUY, "0.001", "74196.01"), D("61830")) == (-1013, "Filter failure: PERCENT_PRICE_BY_SIDE")
    assert refusal(rules, request(Side.SELL, "0.001", "49463.99"), D("61830")) == (-1013, "Filter failure: PERCENT_PRICE_BY_SIDE")
