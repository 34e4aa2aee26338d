"""Typed settings, validated once at start-up.

    settings = load_settings()   # config/tradebot.yaml (or $TRADEBOT_CONFIG) + TRADEBOT_* env
    settings.ingest.symbols             # ('BTCUSDT',)

Precedence: environment > YAML file > defaults. Secrets only come from the environment.
"""

from bot.config.check import check_config, summarize_settings
from bot.config.errors import ConfigError, ConfigProblem, ProblemKind
from bot.config.loader import (
    CONFIG_PATH_VARIABLE,
    DEFAULT_CONFIG_PATH,
    load_settings,
    resolve_config_path,
)
from bot.config.models import ModelSettings
from bot.config.sections import (
    ExchangeSettings,
    IngestSettings,
    LakeSettings,
    LoggingSettings,
    MetricsSettings,
    RedisSettings,
    ReplayExchangeSettings,
)
from bot.config.settings import Settings, lake_root, mask_url_password, secret_values

__all__ = [
    "CONFIG_PATH_VARIABLE",
    "DEFAULT_CONFIG_PATH",
    "ConfigError",
    "ConfigProblem",
    "ExchangeSettings",
    "IngestSettings",
    "LakeSettings",
    "LoggingSettings",
    "MetricsSettings",
    "ModelSettings",
    "ProblemKind",
    "RedisSettings",
    "ReplayExchangeSettings",
    "Settings",
    "check_config",
    "lake_root",
    "load_settings",
    "mask_url_password",
    "resolve_config_path",
    "secret_values",
    "summarize_settings",
]
