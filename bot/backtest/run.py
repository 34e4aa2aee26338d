"""What a finished backtest hands to the results and report code.

The runner fills a `BacktestRun` once the engine has consumed all recorded data; everything after
that (round trips, equity curve, summary, files) is computed from it alone, so the same run always
gives the same outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.domain.trading import Fill, Order


@dataclass(frozen=True)
class BacktestRun:
    """The raw outcome of one backtest. Times are integer ns since the Unix epoch, money Decimal."""

    strategy: str                       # e.g. "sma_cross"
    parameters: Mapping[str, Any]       # the strategy's parameters as given/validated
    settings: Mapping[str, Any]         # fill model, fee_bps, cash, guards, exchange_filters, from/to...: echoed into summary.json
    symbols: tuple[str, ...]
    quote_asset: str                    # "USDT"
    starting_cash: Decimal
    fills: Sequence[Fill]               # every fill, in time order (Fill.ts is ns)
    orders: Sequence[Order]             # final state of every order, in submission order
    closes: Mapping[str, Sequence[tuple[int, Decimal]]]  # per symbol: (bar close time ns, close price), time order
    bar_interval_ns: int                # the strategy's bar interval, for annualising
    data_start_ns: int                  # first event time of the data used
    data_end_ns: int                    # last event time
    warnings: Sequence[str] = ()        # e.g. "gap in FILE: no bars from 2017-09-06T16:00Z to 2017-09-06T23:00Z (7 missing)"
