"""What a finished backtest hands to results and reports (the lead's copy of the agreed type)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.domain.trading import Fill, Order


@dataclass(frozen=True)
class BacktestRun:
    strategy: str
    parameters: Mapping[str, Any]
    settings: Mapping[str, Any]
    symbols: tuple[str, ...]
    quote_asset: str
    starting_cash: Decimal
    fills: Sequence[Fill]
    orders: Sequence[Order]
    closes: Mapping[str, Sequence[tuple[int, Decimal]]]
    bar_interval_ns: int
    data_start_ns: int
    data_end_ns: int
    warnings: Sequence[str] = ()
