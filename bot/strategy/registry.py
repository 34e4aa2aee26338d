"""Find a strategy by name in the top-level `strategies` package and build it from parameters.

Names are module names inside that package and nothing else: a name is checked against the
package's own module list before it is imported, so a configured name can never import an
arbitrary module or path. Each module defines `STRATEGY`, a `BarStrategy` subclass whose `name`
equals the module name and whose `config_type` validates the parameters.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from bot.strategy.base import BarStrategy, Strategy
from bot.strategy.errors import StrategyConfigError, problems_from

PACKAGE = "strategies"
_MODULE_NAME = re.compile(r"[a-z][a-z0-9_]*")


def available_strategies() -> tuple[str, ...]:
    """Strategy names, sorted (the package's public modules)."""
    package = importlib.import_module(PACKAGE)
    names = (module.name for module in pkgutil.iter_modules(package.__path__) if not module.ispkg)
    return tuple(sorted(name for name in names if _MODULE_NAME.fullmatch(name)))


def strategy_class(name: str) -> type[BarStrategy]:
    available = available_strategies()
    if name not in available:
        raise StrategyConfigError(
            str(name), [("", f"unknown strategy {name!r} (available: {', '.join(available)})")]
        )
    module = importlib.import_module(f"{PACKAGE}.{name}")
    found = getattr(module, "STRATEGY", None)
    if not (isinstance(found, type) and issubclass(found, BarStrategy)) or found.name != name:
        raise StrategyConfigError(
            name, [("", f"strategy module {PACKAGE}.{name} must define STRATEGY, a BarStrategy named {name!r}")]
        )
    return found


def required_kline_fields(name: str) -> frozenset[str]:
    """The kline fields strategy `name` cannot work without (its class's `required_kline_fields`),
    known before any instance is built, so a run on data that lacks them can be refused first."""
    return strategy_class(name).required_kline_fields


def load_strategy(name: str, symbol: str, parameters: Mapping[str, Any] | None = None) -> Strategy:
    """A new strategy instance for `symbol`; StrategyConfigError names what is wrong."""
    cls = strategy_class(name)
    if not isinstance(symbol, str) or not symbol:
        raise StrategyConfigError(name, [("symbol", f"must be a symbol such as 'BTCUSDT', got {symbol!r}")])
    config_type = cls.config_type
    try:
        config = config_type.model_validate(dict(parameters or {}))
    except ValidationError as error:
        raise StrategyConfigError(name, problems_from(error, sorted(config_type.model_fields))) from None
    return cls(symbol, config)
