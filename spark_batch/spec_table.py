"""The feature table this package computes, derived from the daemon's feature spec
(`bot.features.spec.FEATURE_SPEC`): one definition, two engines.

Spark and the pandas frame work on flat rows (name, kind, parameters); the spec's multi-output
kinds (MACD, Bollinger: one definition per output column) become one kind per output here, e.g.
`macd_signal`, `bb_upper`. Nothing else in spark_batch names a feature or a period.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from bot.features.spec import FEATURE_SPEC, FeatureDefinition, FeatureKind, FeatureSpec

_OUTPUT_KINDS = {
    (FeatureKind.MACD, "macd"): "macd", (FeatureKind.MACD, "signal"): "macd_signal",
    (FeatureKind.MACD, "histogram"): "macd_hist",
    (FeatureKind.BOLLINGER, "upper"): "bb_upper", (FeatureKind.BOLLINGER, "middle"): "bb_middle",
    (FeatureKind.BOLLINGER, "lower"): "bb_lower",
}
_PARAMETERS = ("period", "fast", "slow", "signal", "deviations")


class FeatureRow(NamedTuple):
    name: str
    kind: str
    parameters: Mapping[str, int | float]


def feature_row(definition: FeatureDefinition) -> FeatureRow:
    if definition.kind in (FeatureKind.MACD, FeatureKind.BOLLINGER):
        kind = _OUTPUT_KINDS[(definition.kind, definition.output)]
    else:
        kind = definition.kind.value
    parameters = {name: getattr(definition, name) for name in _PARAMETERS if getattr(definition, name) is not None}
    return FeatureRow(definition.name, kind, MappingProxyType(parameters))


def feature_table(spec: FeatureSpec = FEATURE_SPEC) -> tuple[FeatureRow, ...]:
    return tuple(feature_row(definition) for definition in spec.definitions)


FEATURE_SPEC_VERSION = FEATURE_SPEC.version
FEATURE_TABLE: tuple[FeatureRow, ...] = feature_table()
FEATURE_NAMES: tuple[str, ...] = FEATURE_SPEC.names

# Kinds computed by a recursion over the whole history (seeded, then one step per bar): Spark
# runs these per symbol with applyInPandas; everything else is a window function.
RECURSIVE_KINDS = frozenset({"ema", "macd", "macd_signal", "macd_hist", "rsi", "atr"})
