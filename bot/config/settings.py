"""The root settings model: one field per section, plus the few keys that belong to no section."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretBytes, SecretStr

from bot.config.sections import (
    ExchangeSettings,
    IngestSettings,
    LakeSettings,
    LoggingSettings,
    MetricsSettings,
    RedisSettings,
    ReplayExchangeSettings,
)
from bot.config.alerts import AlertSettings
from bot.config.api import ApiSettings
from bot.config.lifecycle import LifecycleSettings
from bot.config.nightly import NightlySettings
from bot.config.models import ModelSettings
from bot.config.trading import EngineSettings, PaperSettings
from bot.guards import GuardSettings
from bot.risk import RiskSettings
from bot.scanner.settings import ScannerSettings


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # Relative to the current directory. Holds the private Redis (its AOF is the durable record).
    data_directory: Path = Path("var")
    redis: RedisSettings = Field(default_factory=RedisSettings)
    exchange: ExchangeSettings = Field(default_factory=ExchangeSettings)
    ingest: IngestSettings  # no default: what to trade must be said, never assumed
    replay_exchange: ReplayExchangeSettings = Field(default_factory=ReplayExchangeSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    guards: GuardSettings = Field(default_factory=GuardSettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    paper: PaperSettings = Field(default_factory=PaperSettings)
    scanner: ScannerSettings = Field(default_factory=ScannerSettings)
    lake: LakeSettings = Field(default_factory=LakeSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    nightly: NightlySettings = Field(default_factory=NightlySettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    lifecycle: LifecycleSettings = Field(default_factory=LifecycleSettings)


def lake_root(settings: Settings) -> str:
    """The history lake's root: `lake.root`, or `<data_directory>/lake` when unset."""
    return settings.lake.root or str(Path(settings.data_directory) / "lake")


def secret_values(settings: BaseModel) -> list[str]:
    """Every secret the settings hold, for the log redactor to mask wherever it appears.

    Includes a password embedded in the Redis URL: it is not a SecretStr (the URL is useful to log)
    but the password inside it must still never reach a log line.
    """
    found = list(_walk_secrets(settings))
    redis = getattr(settings, "redis", None)
    url = getattr(redis, "url", None)
    if url:
        password = urlsplit(url).password
        if password:
            found.append(password)
    return found


def _walk_secrets(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, SecretBytes):
        yield value.get_secret_value().decode("utf-8", "replace")
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk_secrets(getattr(value, name))
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _walk_secrets(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk_secrets(item)


def mask_url_password(url: str) -> str:
    """The URL with any password replaced by ***, for summaries and logs."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return parts._replace(netloc=f"{user}:***@{host}").geturl()
