"""The scanner's rules on CONSTRUCTED rows: each case starts from the real BTCUSDT row of the
2020-09-29 answer and changes only what the case is about (an empty book, a crossed book, a
missing field, ...), so every other field stays real."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

import pydantic
import pytest

from bot.domain.trading import GuardLevel
from bot.scanner import ScannerSettings, ScanSignal, parse_tickers, scan
from bot.scanner.metrics import risk_score, signal_of
from bot.scanner.settings import AnomalyThresholds, PairFilters, RiskModel, SignalRules
from bot.sim.ticker_24hr import ticker_24hr_weight
from bot.sim.timeline import RECORDINGS_DIRECTORY

TICKERS = RECORDINGS_DIRECTORY / "spot_ticker_24hr_all_symbols_2020-09-29.json.gz"


def btc_row(**changes: object) -> dict:
    rows = json.loads(gzip.decompress(TICKERS.read_bytes()))
    row = dict(next(row for row in rows if row["symbol"] == "BTCUSDT"))
    row.update(changes)
    return row


def scanned(row: dict):
    parsed = parse_tickers([row], 0)
    assert parsed.rejected == {}
    return scan(parsed.tickers, ScannerSettings()).symbols[0]


def test_zero_bid_and_ask_has_no_spread_and_is_a_high_anomaly() -> None:
    item = scanned(btc_row(bidPrice="0.00000000", askPrice="0.00000000", bidQty="0.00000000", askQty="0.00000000"))
    assert item.spread_bps is None
    assert item.anomaly is GuardLevel.HIGH
    assert item.anomaly_reasons == ("empty_book_side bid=0.00000000 ask=0.00000000",)
    assert item.signal is ScanSignal.HOLD
    # An unusable book counts as the widest spread in the risk score: 0.3 * 100 more than a tight one.
    tight = scanned(btc_row())
    widest = Decimal("0.3") * (100 - tight.spread_bps)  # spread_cap_bps is 100: bps = score points
    assert abs(item.risk_score - tight.risk_score - widest) <= Decimal("0.01")  # both rounded to 0.01


def test_a_crossed_book_is_critical_and_left_out_of_the_pair_list() -> None:
    item = scanned(btc_row(bidPrice="10700.00000000", askPrice="10694.88000000"))
    assert item.anomaly is GuardLevel.CRITICAL and item.spread_bps is None
    assert item.anomaly_reasons == ("crossed_book bid=10700.00000000>=ask=10694.88000000",)
    market = scan(parse_tickers([btc_row(bidPrice="10700.00000000", askPrice="10694.88000000")], 0).tickers, ScannerSettings())
    assert market.totals.anomalies["CRITICAL"] == 1


def test_malformed_rows_are_skipped_and_counted_by_reason() -> None:
    good = btc_row()
    missing = btc_row()
    del missing["lastPrice"]
    rows = [
        good,
        missing,
        btc_row(symbol="ETHUSDT", highPrice="NaN"),
        btc_row(symbol="BNBUSDT", count=True),
        btc_row(symbol="LTCUSDT", closeTime="1601357946166"),
        btc_row(symbol=""),
        ["BTCUSDT"],
        None,
    ]
    parsed = parse_tickers(rows, 0)
    assert [ticker.symbol for ticker in parsed.tickers] == ["BTCUSDT"]
    assert parsed.rejected == {
        "bad_decimal:highPrice": 1,
        "bad_integer:closeTime": 1,
        "bad_integer:count": 1,
        "bad_symbol": 1,
        "missing:lastPrice": 1,
        "not_an_object": 2,
    }
    assert parsed.rejected_total == 7
    assert parse_tickers({"code": -1003, "msg": "Too much request weight used"}, 0).rejected == {"not_a_list": 1}


def test_no_trades_in_a_day_is_critical() -> None:
    item = scanned(btc_row(count=0, lastPrice="0.00000000", quoteVolume="0.00000000"))
    assert item.anomaly is GuardLevel.CRITICAL
    assert item.anomaly_reasons[0] == "no_trades_24h count=0"
    assert any(reason == "quote_volume=0.00000000<1000" for reason in item.anomaly_reasons)


def test_the_risk_formula() -> None:
    model = RiskModel()
    # Each component at half its scale: 15 % range of 30, 50 bps of 100, 1 M between 10 k and 100 M.
    assert risk_score(Decimal(15), Decimal(50), Decimal(1_000_000), model) == Decimal("50.00")
    assert risk_score(Decimal(0), Decimal(0), Decimal(10**9), model) == Decimal("0.00")
    assert risk_score(None, None, Decimal(0), model) == Decimal("100.00")
    assert risk_score(Decimal(90), Decimal(0), Decimal(10**8), model) == Decimal("40.00")  # capped


@pytest.mark.parametrize(
    ("change", "position", "risk", "anomaly", "expected"),
    [
        ("12", "0.9", "20", GuardLevel.NORMAL, ScanSignal.STRONG_BUY),
        ("12", "0.9", "60", GuardLevel.NORMAL, ScanSignal.BUY),  # too risky to be strong
        ("12", "0.7", "20", GuardLevel.NORMAL, ScanSignal.BUY),  # the move held only partly
        ("12", "0.3", "20", GuardLevel.NORMAL, ScanSignal.HOLD),  # the move was given back
        ("4", "0.65", "20", GuardLevel.MODERATE, ScanSignal.BUY),
        ("-11", "0.1", "20", GuardLevel.LOW, ScanSignal.STRONG_SELL),
        ("-4", "0.4", "20", GuardLevel.NORMAL, ScanSignal.SELL),
        ("-4", "0.5", "20", GuardLevel.NORMAL, ScanSignal.HOLD),
        ("2", "0.9", "20", GuardLevel.NORMAL, ScanSignal.HOLD),
        ("12", "0.9", "75", GuardLevel.NORMAL, ScanSignal.HOLD),  # over max_risk
        ("12", "0.9", "20", GuardLevel.HIGH, ScanSignal.HOLD),
    ],
)
def test_the_signal_rule(change: str, position: str, risk: str, anomaly: GuardLevel, expected: ScanSignal) -> None:
    assert signal_of(Decimal(change), Decimal(position), Decimal(risk), anomaly, SignalRules()) is expected
    assert signal_of(Decimal(change), None, Decimal(risk), anomaly, SignalRules()) is ScanSignal.HOLD


def test_settings_reject_unknown_keys_and_inconsistent_thresholds_by_name() -> None:
    with pytest.raises(pydantic.ValidationError, match="refresh_interval"):
        ScannerSettings(refresh_interval=5)  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError, match="refresh_interval_seconds"):
        ScannerSettings(refresh_interval_seconds=0)
    with pytest.raises(pydantic.ValidationError, match="notable_move_pct <= large_move_pct"):
        AnomalyThresholds(large_move_pct=Decimal(40))
    with pytest.raises(pydantic.ValidationError, match="max_pairs"):
        PairFilters(max_pairs=0)
    with pytest.raises(pydantic.ValidationError, match="liquidity_floor_quote"):
        RiskModel(liquidity_floor_quote=Decimal(10**9))
    settings = ScannerSettings.model_validate({"top_n": 3, "pair_filters": {"max_pairs": 5}})
    assert (settings.top_n, settings.pair_filters.max_pairs, settings.refresh_interval_seconds) == (3, 5, 60.0)
    with pytest.raises(pydantic.ValidationError):
        settings.top_n = 4  # type: ignore[misc]


def test_top_n_limits_gainers_and_losers() -> None:
    rows = json.loads(gzip.decompress(TICKERS.read_bytes()))
    market = scan(parse_tickers(rows, 0).tickers, ScannerSettings(top_n=3))
    assert len(market.gainers) == 3 and len(market.losers) == 3
    changes = [market.by_symbol()[symbol].change_pct for symbol in market.gainers]
    assert changes == sorted(changes, reverse=True) and all(change > 0 for change in changes)


@pytest.mark.parametrize(
    ("query", "weight"),
    [
        ({}, 80),
        ({"symbol": "BTCUSDT"}, 2),
        ({"symbols": json.dumps(["X"] * 20)}, 2),
        ({"symbols": json.dumps(["X"] * 21)}, 40),
        ({"symbols": json.dumps(["X"] * 100)}, 40),
        ({"symbols": json.dumps(["X"] * 101)}, 80),
    ],
)
def test_replay_weights_follow_binance_table(query: dict[str, str], weight: int) -> None:
    assert ticker_24hr_weight(query) == weight
