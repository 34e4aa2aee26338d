"""Refusing, before a run, a strategy whose kline fields the data does not have.

Some historical kline files carry only OHLCV; their bars have None for the quote volume, trade
count and taker volumes (`OPTIONAL_KLINE_FIELDS`). A strategy names the fields it needs in
`BarStrategy.required_kline_fields`; whoever feeds it a data source (the backtester, a replay)
asks which fields the source lacks and calls `refuse_missing_kline_fields` before the first bar,
so the operator reads one clear line instead of a ValueError from deep inside a run.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from bot.domain.events import OPTIONAL_KLINE_FIELDS, Kline
from bot.strategy.base import BarStrategy
from bot.strategy.errors import StrategyConfigError
from bot.strategy.registry import strategy_class

_WHAT_THE_DATA_NEEDS = {
    "quote_volume": "quote volumes",
    "trade_count": "trade counts",
    "taker_buy_base_volume": "taker volumes",
    "taker_buy_quote_volume": "taker volumes",
}


def missing_kline_fields(bars: Iterable[Kline]) -> tuple[str, ...]:
    """The optional kline fields that are None in at least one of `bars`, in Kline field order.

    One bar without a column is enough: a strategy that needs it would stop there."""
    missing: set[str] = set()
    for bar in bars:
        for field in OPTIONAL_KLINE_FIELDS:
            if field not in missing and getattr(bar, field) is None:
                missing.add(field)
        if len(missing) == len(OPTIONAL_KLINE_FIELDS):
            break
    return tuple(field for field in OPTIONAL_KLINE_FIELDS if field in missing)


def refuse_missing_kline_fields(
    strategy: str | type[BarStrategy], missing_fields: Collection[str], source: str
) -> None:
    """Raise StrategyConfigError if `strategy` (a registered name or a BarStrategy class) needs a
    field in `missing_fields`, the fields `source` (a file name, say) leaves empty. The message
    is one line, e.g. "strategy taker_flow needs the klines' taker_buy_base_volume column, which
    spot_BTCUSDT_1m_2024-03-01_ohlcv-only.csv leaves empty; use data with taker volumes or
    another strategy". An unknown name raises the registry's StrategyConfigError."""
    cls = strategy_class(strategy) if isinstance(strategy, str) else strategy
    needed = [field for field in OPTIONAL_KLINE_FIELDS if field in cls.required_kline_fields and field in missing_fields]
    if not needed:
        return
    columns = f"{needed[0]} column" if len(needed) == 1 else f"{', '.join(needed[:-1])} and {needed[-1]} columns"
    kinds = list(dict.fromkeys(_WHAT_THE_DATA_NEEDS[field] for field in needed))
    wanted = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} and {kinds[-1]}"
    message = (
        f"strategy {cls.name} needs the klines' {columns}, which {source} leaves empty; "
        f"use data with {wanted} or another strategy"
    )
    raise StrategyConfigError(cls.name, [("", message)])
