"""The feature table this package computes: contract A of issue 5 (feature spec v3), in order.

WHY a local table: `bot.features.spec` is being rewritten to version 3 in parallel. Once it lands,
`FEATURE_TABLE` and `FEATURE_SPEC_VERSION` should be derived from `FEATURE_SPEC` (its ordered
definitions: name, kind, parameters; and its version) so there is again one definition; nothing
else in spark_batch names a feature or a period, everything reads them from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple


class FeatureRow(NamedTuple):
    name: str
    kind: str
    parameters: Mapping[str, int | float]


def _row(name: str, kind: str, **parameters: int | float) -> FeatureRow:
    return FeatureRow(name, kind, MappingProxyType(dict(parameters)))


FEATURE_SPEC_VERSION = "3"

FEATURE_TABLE: tuple[FeatureRow, ...] = (
    _row("ret_1", "return", period=1),
    _row("ret_5", "return", period=5),
    _row("ret_15", "return", period=15),
    _row("log_return", "log_return"),
    _row("sma_5", "sma", period=5),
    _row("sma_10", "sma", period=10),
    _row("ema_12", "ema", period=12),
    _row("ema_26", "ema", period=26),
    _row("macd", "macd", fast=12, slow=26, signal=9),
    _row("macd_signal", "macd_signal", fast=12, slow=26, signal=9),
    _row("macd_hist", "macd_hist", fast=12, slow=26, signal=9),
    _row("rsi_14", "rsi", period=14),
    _row("atr_14", "atr", period=14),
    _row("bb_upper_20", "bb_upper", period=20, deviations=2.0),
    _row("bb_middle_20", "bb_middle", period=20, deviations=2.0),
    _row("bb_lower_20", "bb_lower", period=20, deviations=2.0),
    _row("volatility_60", "volatility", period=60),
    _row("volume_zscore_60", "volume_zscore", period=60),
    _row("taker_buy_ratio", "taker_buy_ratio"),
    _row("trade_count", "trade_count"),
    _row("hour_of_day", "hour_of_day"),
    _row("day_of_week", "day_of_week"),
)

FEATURE_NAMES: tuple[str, ...] = tuple(row.name for row in FEATURE_TABLE)

# Kinds computed by a recursion over the whole history (seeded, then one step per bar): Spark
# runs these per symbol with applyInPandas; everything else is a window function.
RECURSIVE_KINDS = frozenset({"ema", "macd", "macd_signal", "macd_hist", "rsi", "atr"})
