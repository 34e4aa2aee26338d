"""The nightly gate's trading test: a net-of-fees backtest of a stored candidate's signals over
the recent test window, through the same backtest engine as `tradebot backtest` (strategy
ml_signal pinned to the candidate's version directory).

Bars come from the lake's raw layer, the exchange's own decimal text, so the backtest's money is
exact (the clean layer's doubles are for features only). The window starts `warm-up` bars early:
ml_signal holds until every feature is known, so it can first act on the test window's first bar.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.backtest.data import DataSpec, load_market_data
from bot.backtest.results import equity_curve, round_trips, summarize
from bot.backtest.runner import BacktestOptions, run_in_process
from bot.lake.coverage import RawCoverage
from bot.lake.layout import KLINES, SOURCES, LakeLayout
from bot.models.manifest import TimeWindow
from bot.sim.source import KLINE_INTERVAL_MS
from bot.strategy import load_strategy

CSV_HEADER = ("open_time_ms", "open", "high", "low", "close", "volume", "close_time_ms", "quote_volume", "trades",
              "taker_buy_base", "taker_buy_quote")


def _dates(start_ms: int, end_ms: int) -> list[str]:
    first = datetime.fromtimestamp(start_ms / 1000, tz=UTC).date()
    last = datetime.fromtimestamp(end_ms / 1000, tz=UTC).date()
    return [(first + timedelta(days=offset)).isoformat() for offset in range((last - first).days + 1)]


def write_window_csv(lake_root: str, symbol: str, interval: str, start_ms: int, end_ms: int, path: Path) -> int:
    """The raw klines of [start_ms, end_ms] (one row per open time, from the most trusted source: bot.lake.layout.SOURCES) as a
    Binance kline CSV; returns the row count."""
    coverage = RawCoverage(LakeLayout(lake_root))
    best: dict[int, dict] = {}
    for date in _dates(start_ms, end_ms):
        for row in coverage.read(KLINES, symbol, date, interval).to_pylist():
            open_time = row["open_time_ms"]
            if start_ms <= open_time <= end_ms:
                kept = best.get(open_time)
                if kept is None or SOURCES.index(row["source"]) < SOURCES.index(kept["source"]):
                    best[open_time] = row
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        for open_time in sorted(best):
            row = best[open_time]
            writer.writerow((
                open_time, row["open"], row["high"], row["low"], row["close"], row["volume"], row["close_time_ms"],
                row["quote_volume"] or "", "" if row["trade_count"] is None else row["trade_count"],
                row["taker_buy_base_volume"] or "", row["taker_buy_quote_volume"] or "",
            ))
    return len(best)


def backtest_candidate(
    lake_root: str, symbols: Sequence[str], interval: str, model_directory: Path, window: TimeWindow,
    fee_bps: int = 10,
) -> dict[str, float]:
    """Net-of-fees figures of the candidate's signals over `window`, all symbols in one account."""
    parameters = {"model_directory": str(model_directory), "threshold": 0.5}
    warmup = load_strategy("ml_signal", symbols[0], parameters).warmup_bars
    start_ms = window.start_ms - warmup * KLINE_INTERVAL_MS[interval]
    with tempfile.TemporaryDirectory(prefix="tradebot-signal-backtest-") as scratch:
        specs = []
        for symbol in symbols:
            path = Path(scratch) / f"{symbol}_{interval}.csv"
            if write_window_csv(lake_root, symbol, interval, start_ms, window.end_ms, path):
                specs.append(DataSpec.parse(f"{symbol}:{interval}={path}"))
        if not specs:
            return {}
        data = load_market_data(specs)
        options = BacktestOptions(strategy="ml_signal", parameters=parameters, fee_bps=fee_bps)
        run = run_in_process(options, data)
    trips = round_trips(run.fills)
    summary = summarize(run, trips, equity_curve(run))
    return {
        "backtest_total_return": float(summary["total_return"] or 0.0),
        "backtest_trades": float(summary["n_trades"]),
        "backtest_fees_paid": float(summary["fees_paid"]),
        "backtest_max_drawdown": float(summary["max_drawdown"] or 0.0),
        "backtest_exposure": float(summary["exposure"] or 0.0),
    }
