"""Load and validate the settings exactly once, at start-up.

Every problem found (file, environment, values, cross-section rules) is collected before raising,
so one run of `tradebot config check` shows everything that needs fixing, most useful first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from bot.config.errors import ConfigError, ConfigProblem
from bot.config.messages import problems_from_validation_error
from bot.config.settings import Settings
from bot.config.sources import apply_environment, read_settings_file, take_secrets_out_of_file

DEFAULT_CONFIG_PATH = Path("config/tradebot.yaml")
CONFIG_PATH_VARIABLE = "TRADEBOT_CONFIG"


def resolve_config_path(path: Path | str | None, environ: Mapping[str, str] | None = None) -> Path:
    """The file to read: the one given, else $TRADEBOT_CONFIG, else config/tradebot.yaml."""
    if path is not None and str(path) != "":
        return Path(path)
    environ = os.environ if environ is None else environ
    named = environ.get(CONFIG_PATH_VARIABLE, "").strip()
    return Path(named) if named else DEFAULT_CONFIG_PATH


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the YAML file, apply TRADEBOT_* overrides, validate; ConfigError on any problem."""
    environ = os.environ if environ is None else environ
    path = resolve_config_path(path, environ)
    file_source = str(path)
    data = read_settings_file(path)
    problems = take_secrets_out_of_file(data, Settings, file_source)
    overrides = apply_environment(data, environ, Settings)
    problems += overrides.problems
    try:
        settings = Settings.model_validate(data)
    except ValidationError as error:
        problems += problems_from_validation_error(
            error, file_source=file_source, origins=overrides.origins, model=Settings
        )
    else:
        problems += _cross_section_problems(settings, file_source)
    if problems:
        raise ConfigError(problems)
    return settings


def _cross_section_problems(settings: Settings, file_source: str) -> list[ConfigProblem]:
    """Rules that span sections, so no single section model can check them."""
    problems = []
    exchange = settings.exchange
    if (
        exchange.venue == "replay"
        and not settings.replay_exchange.enabled
        and (exchange.rest_base_url is None or exchange.websocket_base_url is None)
    ):
        problems.append(
            ConfigProblem(
                file_source,
                "exchange.venue",
                "'replay' needs the embedded replay exchange (replay_exchange.enabled: true) "
                "or both exchange.rest_base_url and exchange.websocket_base_url",
            )
        )
    return problems
