"""User strategies, one file each with its config class beside it.

`bot.strategy.registry.load_strategy(name, symbol, parameters)` loads `strategies/<name>.py` by
module name; each module defines `STRATEGY`, a `bot.strategy.BarStrategy` subclass whose `name`
is the module name and whose `config_type` (a pydantic model, extra keys forbidden) validates
the parameters. Modules whose names start with "_" are helpers, not strategies.
"""
