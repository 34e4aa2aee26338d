"""The pure market scanner on the REAL all-symbols 24 h ticker answer of 2020-09-29 (1,072
symbols, bot/sim/recordings/SOURCES.md). Expected figures are computed here independently, with
pandas and plain Decimal arithmetic over the raw JSON, never copied from the scanner's output."""

from __future__ import annotations

import functools
import gzip
import json
import random
from decimal import Decimal

import msgspec
import pandas as pd
import pytest

from bot.domain.trading import GuardLevel
from bot.scanner import (
    MarketScan,
    PairFilters,
    ScannerSettings,
    ScanSignal,
    parse_tickers,
    quote_assets_from_exchange_info,
    scan,
    select_pairs,
)
from bot.scanner.encoding import symbol_fields, symbol_scan_from_fields
from bot.sim.timeline import RECORDINGS_DIRECTORY

TICKERS = RECORDINGS_DIRECTORY / "spot_ticker_24hr_all_symbols_2020-09-29.json.gz"
EXCHANGE_INFO = RECORDINGS_DIRECTORY / "spot_exchangeInfo_2021-10-12.json.gz"
TS_INIT = 1_601_357_950_000_000_000


@functools.cache
def raw_rows() -> tuple[dict, ...]:
    return tuple(json.loads(gzip.decompress(TICKERS.read_bytes())))


@functools.cache
def frame() -> pd.DataFrame:
    """The USDT pairs of the answer as a DataFrame, decimals as Decimal objects."""
    table = pd.DataFrame(list(raw_rows()))
    table = table[table["symbol"].str.endswith("USDT")].copy()
    for column in ("priceChangePercent", "quoteVolume", "bidPrice", "askPrice"):
        table[column] = table[column].map(Decimal)
    return table


@functools.cache
def real_scan() -> MarketScan:
    return scan(parse_tickers(list(raw_rows()), TS_INIT).tickers, ScannerSettings())


def test_every_real_row_parses_exactly() -> None:
    parsed = parse_tickers(list(raw_rows()), TS_INIT)
    assert len(parsed.tickers) == 1072 and parsed.rejected == {}
    row = next(row for row in raw_rows() if row["symbol"] == "BTCUSDT")
    btc = next(ticker for ticker in parsed.tickers if ticker.symbol == "BTCUSDT")
    assert str(btc.last_price) == row["lastPrice"] == "10694.87000000"
    assert (str(btc.high_price), str(btc.low_price)) == (row["highPrice"], row["lowPrice"])
    assert str(btc.quote_volume) == row["quoteVolume"] and str(btc.price_change_percent) == row["priceChangePercent"]
    assert (str(btc.best_bid_price), str(btc.best_ask_quantity)) == (row["bidPrice"], row["askQty"])
    assert btc.ts_event == btc.close_time == row["closeTime"] * 1_000_000
    assert btc.open_time == row["openTime"] * 1_000_000 and btc.ts_init == TS_INIT
    assert (btc.first_trade_id, btc.last_trade_id, btc.trade_count) == (row["firstId"], row["lastId"], row["count"])


def test_market_totals_match_an_independent_count() -> None:
    table = frame()
    totals = real_scan().totals
    assert totals.pairs_scanned == len(table) == 205
    exact_sum = sum(table["quoteVolume"], Decimal(0))
    assert totals.total_quote_volume == exact_sum == Decimal("2056516669.93991979")
    change = table["priceChangePercent"]
    assert (totals.advancers, totals.decliners, totals.unchanged) == (
        int((change > 0).sum()), int((change < 0).sum()), int((change == 0).sum()),
    )
    assert float(totals.median_change_pct) == pytest.approx(table["priceChangePercent"].astype(float).median())
    assert sum(totals.anomalies.values()) == 205 and list(totals.anomalies) == [level.name for level in GuardLevel]
    # The 20 pairs without a trade in 24 h (delisted) are CRITICAL; nothing else is.
    assert totals.anomalies["CRITICAL"] == int((table["count"] == 0).sum()) == 20


def test_gainers_and_losers_match_an_independent_ranking() -> None:
    table = frame()
    market = real_scan()
    top = table.loc[table["priceChangePercent"].astype(float).idxmax()]
    assert market.gainers[0] == top["symbol"] == "FLMUSDT"
    assert market.by_symbol()["FLMUSDT"].change_pct == top["priceChangePercent"] == Decimal("156.833")
    rising = table[table["priceChangePercent"] > 0].assign(key=lambda t: -t["priceChangePercent"].astype(float))
    assert list(market.gainers) == list(rising.sort_values(["key", "symbol"])["symbol"][:10])
    falling = table[table["priceChangePercent"] < 0].assign(key=lambda t: t["priceChangePercent"].astype(float))
    assert list(market.losers) == list(falling.sort_values(["key", "symbol"])["symbol"][:10])
    assert market.losers[0] == "BELUSDT"


def test_a_real_pairs_figures() -> None:
    btc = real_scan().by_symbol()["BTCUSDT"]
    high, low, last = Decimal("10941.99"), Decimal("10626.00"), Decimal("10694.87")  # the recorded values
    assert btc.volatility_pct == ((high - low) / low * 100).quantize(Decimal("0.0001"))
    assert btc.position_in_range == ((last - low) / (high - low)).quantize(Decimal("0.0001"))
    bid, ask = Decimal("10694.87"), Decimal("10694.88")
    assert btc.spread_bps == ((ask - bid) / ((ask + bid) / 2) * 10_000).quantize(Decimal("0.0001"))
    assert btc.anomaly is GuardLevel.NORMAL and btc.anomaly_reasons == ()
    flm = real_scan().by_symbol()["FLMUSDT"]
    assert flm.anomaly is GuardLevel.HIGH and flm.anomaly_reasons == ("move_24h_pct=156.833>=30",)
    assert flm.signal is ScanSignal.HOLD  # a HIGH anomaly never gets a trading opinion


def independent_pair_list(minimum: Decimal, max_spread: float, exclude_extreme_moves: bool, limit: int) -> list[str]:
    table = frame().copy()
    bid, ask = table["bidPrice"].astype(float), table["askPrice"].astype(float)
    table["spread"] = (ask - bid) / ((ask + bid) / 2) * 10_000
    chosen = table[(table["quoteVolume"] >= minimum) & (bid > 0) & (ask > bid) & (table["spread"] <= max_spread)]
    if exclude_extreme_moves:
        # Among liquid pairs with a tight, uncrossed book the only HIGH rule left is the 30 % move.
        chosen = chosen[chosen["priceChangePercent"].abs() < 30]
    chosen = chosen.assign(key=-chosen["quoteVolume"].astype(float)).sort_values(["key", "symbol"])
    return list(chosen["symbol"][:limit])


@pytest.mark.parametrize("exclude", [True, False])
def test_the_pair_list_matches_an_independent_filter(exclude: bool) -> None:
    filters = PairFilters(min_quote_volume=Decimal(5_000_000), max_spread_bps=Decimal(30), exclude_high_anomalies=exclude, max_pairs=40)
    pairs = select_pairs(real_scan(), filters)
    assert pairs == independent_pair_list(Decimal(5_000_000), 30, exclude, 40)
    assert ("FLMUSDT" in pairs) is (not exclude)  # 73.7 M traded, 27 bps wide, up 156 %
    assert pairs[0] == "BTCUSDT"


def test_the_default_pair_list() -> None:
    pairs = select_pairs(real_scan(), ScannerSettings().pair_filters)
    assert pairs == independent_pair_list(Decimal(1_000_000), 20, True, 30)


def test_the_scan_is_byte_identical_whatever_the_input_order() -> None:
    rows = list(raw_rows())
    shuffled = rows[:]
    random.Random(11).shuffle(shuffled)
    first = msgspec.json.encode(scan(parse_tickers(rows, TS_INIT).tickers, ScannerSettings()))
    second = msgspec.json.encode(scan(parse_tickers(shuffled, TS_INIT).tickers, ScannerSettings()))
    assert first == second
    symbols = [item.symbol for item in real_scan().symbols]
    assert symbols == sorted(symbols)


def test_exchange_rules_decide_the_quote_asset_where_they_know_the_symbol() -> None:
    rules = quote_assets_from_exchange_info(json.loads(gzip.decompress(EXCHANGE_INFO.read_bytes())))
    assert len(rules) == 1695 and rules["BTCUSDT"] == "USDT" and rules["ETHBTC"] == "BTC"
    tickers = parse_tickers(list(raw_rows()), TS_INIT).tickers
    assert scan(tickers, ScannerSettings(), rules).totals.pairs_scanned == 205
    # Constructed override: rules that call FLMUSDT a BUSD pair take it out of the USDT scan.
    overridden = scan(tickers, ScannerSettings(), {**rules, "FLMUSDT": "BUSD"})
    assert overridden.totals.pairs_scanned == 204 and "FLMUSDT" not in overridden.by_symbol()


def test_redis_fields_read_back_to_the_same_figures() -> None:
    for item in real_scan().symbols:
        fields = {key.encode(): value.encode() for key, value in symbol_fields(item, TS_INIT).items()}
        assert symbol_scan_from_fields(fields) == item
