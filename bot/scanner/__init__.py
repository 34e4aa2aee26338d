"""The market scanner: every pair of one quote asset from Binance's 24 h tickers, scored for
volatility, momentum, spread, liquidity, risk and anomalies, with a signal per pair, market
breadth, and a dynamic pair list.

Everything here is pure (no I/O, no clock) except `bot.scanner.service`, which polls REST and
writes the results to Redis.
"""

from bot.scanner.metrics import ScanSignal, SymbolScan, scan_symbol
from bot.scanner.parsing import ParsedTickers, parse_ticker_row, parse_tickers, quote_assets_from_exchange_info
from bot.scanner.scan import MarketScan, MarketTotals, is_quoted_in, scan, select_pairs
from bot.scanner.settings import AnomalyThresholds, PairFilters, RiskModel, ScannerSettings, SignalRules

__all__ = [
    "AnomalyThresholds",
    "MarketScan",
    "MarketTotals",
    "PairFilters",
    "ParsedTickers",
    "RiskModel",
    "ScanSignal",
    "ScannerSettings",
    "SignalRules",
    "SymbolScan",
    "is_quoted_in",
    "parse_ticker_row",
    "parse_tickers",
    "quote_assets_from_exchange_info",
    "scan",
    "scan_symbol",
    "select_pairs",
]
