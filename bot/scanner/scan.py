"""The market scan: every pair quoted in one asset, scored, ranked and summed up; and the dynamic
pair list drawn from it.

Ordering is always total and explicit (ties broken by symbol), so the same tickers give the same
scan, byte for byte, on every run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

import msgspec

from bot.domain.events import Ticker
from bot.domain.trading import GuardLevel
from bot.scanner.metrics import SymbolScan, scan_symbol
from bot.scanner.settings import PairFilters, ScannerSettings


class MarketTotals(msgspec.Struct, frozen=True, kw_only=True):
    """Market breadth over the scanned pairs.

    total_quote_volume is the exact Decimal sum. median_change_pct is the middle 24 h change (the
    mean of the two middle ones for an even count), None for an empty scan. Pairs without a trade
    in 24 h report a change of 0 and so count as unchanged. anomalies counts pairs per level
    name, every level present (zeros too), NORMAL first.
    """

    pairs_scanned: int
    total_quote_volume: Decimal
    advancers: int
    decliners: int
    unchanged: int
    median_change_pct: Decimal | None
    anomalies: dict[str, int]


class MarketScan(msgspec.Struct, frozen=True, kw_only=True):
    """ts_event: the newest closeTime among the scanned tickers (ns), 0 for an empty scan.
    symbols: one SymbolScan per pair, sorted by symbol.
    gainers / losers: up to top_n symbols with a positive / negative 24 h change, the biggest
    move first (ties by symbol). A market where nothing rose has no gainers."""

    ts_event: int
    quote_asset: str
    symbols: tuple[SymbolScan, ...]
    gainers: tuple[str, ...]
    losers: tuple[str, ...]
    totals: MarketTotals

    def by_symbol(self) -> dict[str, SymbolScan]:
        return {item.symbol: item for item in self.symbols}


def is_quoted_in(symbol: str, quote_asset: str, quote_assets: Mapping[str, str] | None = None) -> bool:
    """Whether `symbol` is quoted in `quote_asset`: by the exchange's rules when they know the
    symbol, else by its name ending in the quote asset after a non-empty base."""
    if quote_assets is not None and symbol in quote_assets:
        return quote_assets[symbol] == quote_asset
    return len(symbol) > len(quote_asset) and symbol.endswith(quote_asset)


def scan(
    tickers: Iterable[Ticker], settings: ScannerSettings, quote_assets: Mapping[str, str] | None = None
) -> MarketScan:
    """Scans every ticker quoted in settings.quote_asset. quote_assets ({symbol: quoteAsset}, e.g.
    from `quote_assets_from_exchange_info`) overrides the symbol-suffix rule where it knows a
    symbol. A symbol listed twice keeps its newest ticker (highest ts_event)."""
    newest: dict[str, Ticker] = {}
    for ticker in tickers:
        if not is_quoted_in(ticker.symbol, settings.quote_asset, quote_assets):
            continue
        kept = newest.get(ticker.symbol)
        if kept is None or ticker.ts_event > kept.ts_event:
            newest[ticker.symbol] = ticker
    scans = tuple(scan_symbol(newest[symbol], settings) for symbol in sorted(newest))
    rising = sorted((item for item in scans if item.change_pct > 0), key=lambda item: (-item.change_pct, item.symbol))
    falling = sorted((item for item in scans if item.change_pct < 0), key=lambda item: (item.change_pct, item.symbol))
    return MarketScan(
        ts_event=max((item.ts_event for item in scans), default=0),
        quote_asset=settings.quote_asset,
        symbols=scans,
        gainers=tuple(item.symbol for item in rising[: settings.top_n]),
        losers=tuple(item.symbol for item in falling[: settings.top_n]),
        totals=_totals(scans),
    )


# Wide enough that summing a whole market's volumes never rounds: the total is exact.
_EXACT = Context(prec=80, rounding=ROUND_HALF_EVEN)


def _totals(scans: tuple[SymbolScan, ...]) -> MarketTotals:
    with localcontext(_EXACT):
        return _totals_exact(scans)


def _totals_exact(scans: tuple[SymbolScan, ...]) -> MarketTotals:
    changes = sorted(item.change_pct for item in scans)
    median: Decimal | None = None
    if changes:
        middle = len(changes) // 2
        median = changes[middle] if len(changes) % 2 else (changes[middle - 1] + changes[middle]) / 2
    anomalies = {level.name: 0 for level in GuardLevel}
    for item in scans:
        anomalies[item.anomaly.name] += 1
    return MarketTotals(
        pairs_scanned=len(scans),
        total_quote_volume=sum((item.quote_volume for item in scans), Decimal(0)),
        advancers=sum(1 for change in changes if change > 0),
        decliners=sum(1 for change in changes if change < 0),
        unchanged=sum(1 for change in changes if change == 0),
        median_change_pct=median,
        anomalies=anomalies,
    )


def select_pairs(market: MarketScan, filters: PairFilters) -> list[str]:
    """The dynamic pair list: pairs with at least min_quote_volume, a known spread of at most
    max_spread_bps and (by default) no HIGH or CRITICAL anomaly; the largest quote volume first,
    ties by symbol; at most max_pairs."""
    chosen = [
        item
        for item in market.symbols
        if item.quote_volume >= filters.min_quote_volume
        and item.spread_bps is not None
        and item.spread_bps <= filters.max_spread_bps
        and not (filters.exclude_high_anomalies and item.anomaly >= GuardLevel.HIGH)
    ]
    chosen.sort(key=lambda item: (-item.quote_volume, item.symbol))
    return [item.symbol for item in chosen[: filters.max_pairs]]
