"""How a scan is laid out in Redis hashes (docs/redis-layout.md, "Scanner"): plain text fields a
person can read with HGETALL, and the way back to a SymbolScan.

Decimals keep their exact text in plain notation (`0.00000000`, not `0E-8`), times are integer nanoseconds, a figure that cannot be computed
is the empty string, lists and mappings are JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import msgspec

from bot.domain.trading import GuardLevel
from bot.scanner.metrics import ScanSignal, SymbolScan
from bot.scanner.scan import MarketScan


def _text(value: Decimal | None) -> str:
    return "" if value is None else _plain(value)


def _plain(value: Decimal) -> str:
    """Plain notation with every written place: 0.00000000, never 0E-8."""
    return format(value, "f")


def _optional_decimal(text: str) -> Decimal | None:
    return None if text == "" else Decimal(text)


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


def symbol_fields(item: SymbolScan, ts_scan: int) -> dict[str, str]:
    return {
        "symbol": item.symbol,
        "ts_event": str(item.ts_event),
        "ts_scan": str(ts_scan),
        "last_price": _plain(item.last_price),
        "change_pct": _plain(item.change_pct),
        "volatility_pct": _text(item.volatility_pct),
        "position_in_range": _text(item.position_in_range),
        "spread_bps": _text(item.spread_bps),
        "best_bid_price": _plain(item.best_bid_price),
        "best_ask_price": _plain(item.best_ask_price),
        "quote_volume": _plain(item.quote_volume),
        "trade_count": str(item.trade_count),
        "risk_score": _plain(item.risk_score),
        "anomaly": item.anomaly.name,
        "anomaly_reasons": _json(list(item.anomaly_reasons)),
        "signal": item.signal.value,
    }


def symbol_scan_from_fields(fields: Mapping[bytes | str, bytes | str]) -> SymbolScan:
    """The inverse of symbol_fields (HGETALL's answer, bytes or str)."""
    text = {_str(key): _str(value) for key, value in fields.items()}
    return SymbolScan(
        symbol=text["symbol"],
        ts_event=int(text["ts_event"]),
        last_price=Decimal(text["last_price"]),
        change_pct=Decimal(text["change_pct"]),
        volatility_pct=_optional_decimal(text["volatility_pct"]),
        position_in_range=_optional_decimal(text["position_in_range"]),
        spread_bps=_optional_decimal(text["spread_bps"]),
        best_bid_price=Decimal(text["best_bid_price"]),
        best_ask_price=Decimal(text["best_ask_price"]),
        quote_volume=Decimal(text["quote_volume"]),
        trade_count=int(text["trade_count"]),
        risk_score=Decimal(text["risk_score"]),
        anomaly=GuardLevel[text["anomaly"]],
        anomaly_reasons=tuple(msgspec.json.decode(text["anomaly_reasons"], type=list[str])),
        signal=ScanSignal(text["signal"]),
    )


def summary_fields(market: MarketScan, ts_scan: int, rows_rejected: Mapping[str, int]) -> dict[str, str]:
    totals = market.totals
    return {
        "ts_event": str(market.ts_event),
        "ts_scan": str(ts_scan),
        "quote_asset": market.quote_asset,
        "pairs_scanned": str(totals.pairs_scanned),
        "total_quote_volume": _plain(totals.total_quote_volume),
        "advancers": str(totals.advancers),
        "decliners": str(totals.decliners),
        "unchanged": str(totals.unchanged),
        "median_change_pct": _text(totals.median_change_pct),
        "anomalies": _json(totals.anomalies),
        "gainers": _json(list(market.gainers)),
        "losers": _json(list(market.losers)),
        "rows_rejected": _json(dict(rows_rejected)),
    }


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
