"""Binance's `GET /api/v3/ticker/24hr` answer (every symbol at once) -> domain `Ticker`s.

A scan covers a thousand or more symbols; one odd row (a field missing, a number that is not a
number) must never cost the other rows, so a bad row is skipped and counted with its reason.
Prices and volumes become `Decimal` straight from Binance's strings, so their values and
written precision are exact; times become integer nanoseconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from bot.domain.events import MILLISECONDS, Ticker

# (Binance field, Ticker field) for every decimal value.
DECIMAL_FIELDS: tuple[tuple[str, str], ...] = (
    ("priceChange", "price_change"),
    ("priceChangePercent", "price_change_percent"),
    ("weightedAvgPrice", "weighted_average_price"),
    ("lastPrice", "last_price"),
    ("lastQty", "last_quantity"),
    ("bidPrice", "best_bid_price"),
    ("bidQty", "best_bid_quantity"),
    ("askPrice", "best_ask_price"),
    ("askQty", "best_ask_quantity"),
    ("openPrice", "open_price"),
    ("highPrice", "high_price"),
    ("lowPrice", "low_price"),
    ("volume", "volume"),
    ("quoteVolume", "quote_volume"),
)
# Times in ms, converted to ns.
TIME_FIELDS: tuple[tuple[str, str], ...] = (("openTime", "open_time"), ("closeTime", "close_time"))
# Plain integers (Binance sends -1 for first/last id when there was no trade).
INTEGER_FIELDS: tuple[tuple[str, str], ...] = (
    ("firstId", "first_trade_id"),
    ("lastId", "last_trade_id"),
    ("count", "trade_count"),
)

_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")
# A plain decimal numeral as Binance writes them; rejects "NaN", "Infinity", "1e5", "".
_DECIMAL_TEXT = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


class ParsedTickers(msgspec.Struct, frozen=True, kw_only=True):
    """The tickers that parsed (in answer order) and, for the rest, how many failed for which
    reason (reason codes sorted, so the mapping is the same on every run)."""

    tickers: tuple[Ticker, ...]
    rejected: dict[str, int]

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


class RowError(ValueError):
    """Why one row was skipped: a short machine-readable code such as `missing:lastPrice`."""


def parse_ticker_row(row: Any, ts_init: int) -> Ticker:
    """One 24 h ticker object -> Ticker, or RowError naming the first problem found."""
    if not isinstance(row, Mapping):
        raise RowError("not_an_object")
    symbol = row.get("symbol")
    if not isinstance(symbol, str) or _SYMBOL.match(symbol) is None:
        raise RowError("bad_symbol")
    values: dict[str, Any] = {}
    for wire, name in DECIMAL_FIELDS:
        values[name] = _decimal(row, wire)
    for wire, name in TIME_FIELDS:
        values[name] = _integer(row, wire) * MILLISECONDS
    for wire, name in INTEGER_FIELDS:
        values[name] = _integer(row, wire)
    return Ticker(symbol=symbol, ts_event=values["close_time"], ts_init=ts_init, **values)


def parse_tickers(rows: Any, ts_init: int) -> ParsedTickers:
    """The whole answer -> ParsedTickers. An answer that is not a list at all is one rejection
    (`not_a_list`), not an exception: the caller keeps its previous scan either way."""
    if not isinstance(rows, list):
        return ParsedTickers(tickers=(), rejected={"not_a_list": 1})
    tickers: list[Ticker] = []
    rejected: dict[str, int] = {}
    for row in rows:
        try:
            tickers.append(parse_ticker_row(row, ts_init))
        except RowError as error:
            reason = str(error)
            rejected[reason] = rejected.get(reason, 0) + 1
    return ParsedTickers(tickers=tuple(tickers), rejected=dict(sorted(rejected.items())))


def quote_assets_from_exchange_info(exchange_info: Any) -> dict[str, str]:
    """{symbol: quoteAsset} from an exchangeInfo body, for symbols whose rules are usable.

    The symbol suffix misleads for some names (a base asset may itself end in the quote's
    letters); the exchange's own rules do not. Malformed entries are left out, so the scan falls
    back to the suffix for them."""
    mapping: dict[str, str] = {}
    symbols = exchange_info.get("symbols") if isinstance(exchange_info, Mapping) else None
    if not isinstance(symbols, list):
        return mapping
    for item in symbols:
        if not isinstance(item, Mapping):
            continue
        symbol, quote = item.get("symbol"), item.get("quoteAsset")
        if isinstance(symbol, str) and isinstance(quote, str) and quote:
            mapping[symbol] = quote
    return dict(sorted(mapping.items()))


def _decimal(row: Mapping[str, Any], wire: str) -> Decimal:
    if wire not in row:
        raise RowError(f"missing:{wire}")
    text = row[wire]
    if not isinstance(text, str) or _DECIMAL_TEXT.match(text) is None:
        raise RowError(f"bad_decimal:{wire}")
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid numerals
        raise RowError(f"bad_decimal:{wire}") from None


def _integer(row: Mapping[str, Any], wire: str) -> int:
    if wire not in row:
        raise RowError(f"missing:{wire}")
    value = row[wire]
    # bool is an int subclass in Python; true/false is never a valid id or time.
    if not isinstance(value, int) or isinstance(value, bool):
        raise RowError(f"bad_integer:{wire}")
    return value

