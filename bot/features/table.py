"""A feature table: the spec's features for every closed bar of one symbol and interval, computed
by the daemon's own incremental `FeatureSet` (the values a decision would have seen live).

Pure: bars in, rows out. Writing the table to a file is `bot.features_command`'s job.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.events import MILLISECONDS, Kline
from bot.features.spec import FEATURE_SPEC, FeatureSet, FeatureSpec

TIME_COLUMN = "open_time_ms"

FeatureRow = tuple[int, tuple[float | None, ...]]  # (open time in ms, the spec's values in order)


def feature_columns(spec: FeatureSpec = FEATURE_SPEC) -> tuple[str, ...]:
    """A feature table's columns: the bar's open time first, then the spec's names."""
    return (TIME_COLUMN, *spec.names)


def feature_rows(bars: Iterable[Kline], spec: FeatureSpec = FEATURE_SPEC) -> list[FeatureRow]:
    """One row per bar, in the bars' order; they must be closed bars of one symbol and interval
    in increasing time (FeatureSet refuses anything else with a ValueError)."""
    features = FeatureSet(spec)
    names = spec.names
    series: tuple[str, str] | None = None
    rows: list[FeatureRow] = []
    for bar in bars:
        if series is None:
            series = (bar.symbol, bar.interval)
        elif (bar.symbol, bar.interval) != series:
            raise ValueError(f"a feature table holds one series: {series[0]} {series[1]} bars, then a {bar.symbol} {bar.interval} bar")
        try:
            values = features.update(bar)
        except ValueError as error:  # say which bar: the file may hold a million
            raise ValueError(f"{bar.symbol} {bar.interval} bar opening at {bar.open_time // MILLISECONDS} ms: {error}") from None
        rows.append((bar.open_time // MILLISECONDS, tuple(values[name] for name in names)))
    return rows
