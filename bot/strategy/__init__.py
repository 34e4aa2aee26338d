"""PURE: the Strategy protocol, the base for bar strategies, the registry that loads
`strategies/<name>.py` by name, and the check that the data has the kline fields a strategy needs."""

from bot.strategy.base import BarStrategy, Strategy, StrategyConfig
from bot.strategy.errors import ParameterError, StrategyConfigError
from bot.strategy.registry import (
    available_strategies,
    load_strategy,
    required_kline_fields,
)
from bot.strategy.requirements import missing_kline_fields, refuse_missing_kline_fields

__all__ = [
    "BarStrategy",
    "ParameterError",
    "Strategy",
    "StrategyConfig",
    "StrategyConfigError",
    "available_strategies",
    "load_strategy",
    "missing_kline_fields",
    "refuse_missing_kline_fields",
    "required_kline_fields",
]
