"""PURE: the Strategy protocol, the base for bar strategies, and the registry that loads
`strategies/<name>.py` by name."""

from bot.strategy.base import BarStrategy, Strategy, StrategyConfig
from bot.strategy.errors import ParameterError, StrategyConfigError
from bot.strategy.registry import available_strategies, load_strategy

__all__ = [
    "BarStrategy",
    "ParameterError",
    "Strategy",
    "StrategyConfig",
    "StrategyConfigError",
    "available_strategies",
    "load_strategy",
]
