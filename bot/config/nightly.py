"""Settings of the nightly pipeline: archive -> Spark features -> train -> evaluate -> publish."""

from __future__ import annotations

from typing import Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import Field, field_validator

from bot.config.sections import SectionModel
from bot.sim.source import KLINE_INTERVAL_MS


class NightlySettings(SectionModel):
    # Run the pipeline inside `tradebot run` on `cron`. Off by default: a run starts Spark and
    # trains models, which a user should choose; `tradebot train` runs it once on demand.
    enabled: bool = False
    # Five-field crontab in UTC (minute hour day month weekday); default 02:00 every night.
    cron: str = "0 2 * * *"
    # A run still going after this is killed (the Spark driver and its JVM with it) and reported.
    time_limit_minutes: int = Field(default=120, ge=1, le=24 * 60)
    # local[N] (this machine) or a cluster's master URL (spark://host:7077, k8s://...): the same job.
    spark_master: str = "local[2]"
    # Spark configuration for the run's session (spark.executor.memory, spark.sql.shuffle.partitions,
    # ...), over the pipeline's own defaults (spark_batch.session). A cluster keeps Spark's 200 shuffle
    # partitions unless told: right for years of many symbols, but on days of a few symbols every
    # step then runs 200 near-empty tasks (see docs/architecture.md, "Nightly batch").
    spark_settings: dict[str, str] = Field(default_factory=dict)
    # Symbols to train on; left out: ingest.symbols.
    symbols: tuple[str, ...] | None = None
    interval: str = "1m"
    # Label: the forward return over this many bars (10 one-minute bars = T+10 min).
    horizon_bars: int = Field(default=10, ge=1, le=10_000)
    # The classifier's flat band: |return| at or below it is "flat". Left out: the pipeline's
    # default, which covers a round trip's fees (spark_batch.labels).
    flat_threshold: float | None = Field(default=None, gt=0.0, lt=1.0)
    model_name: str = "signal"
    model_kind: Literal["classifier", "regressor"] = "classifier"
    # local: single-node XGBoost; spark: xgboost.spark on the cluster; auto: by data size and master.
    training_engine: Literal["auto", "local", "spark"] = "auto"
    # Walk-forward folds of the validation.
    folds: int = Field(default=4, ge=2, le=50)
    # Archive the Redis streams into the lake first, so tonight's model sees today's data.
    archive_first: bool = True

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, cron: str) -> str:
        try:
            CronTrigger.from_crontab(cron, timezone="UTC")
        except ValueError as error:
            raise ValueError(f"not a five-field crontab (minute hour day month weekday): {error}") from None
        return cron

    @field_validator("interval")
    @classmethod
    def _known_interval(cls, interval: str) -> str:
        # The lake holds Binance's klines, so only Binance's kline intervals exist there.
        if interval not in KLINE_INTERVAL_MS:
            raise ValueError(f"a Binance kline interval ({', '.join(KLINE_INTERVAL_MS)}), got {interval!r}")
        return interval

    @field_validator("spark_settings", mode="before")
    @classmethod
    def _spark_values_as_text(cls, settings: object) -> object:
        # Spark's values are text; YAML's 8 and true are what a user means by "8" and "true".
        if isinstance(settings, dict):
            return {key: _spark_text(value) for key, value in settings.items()}
        return settings

    @field_validator("spark_settings")
    @classmethod
    def _spark_keys(cls, settings: dict[str, str]) -> dict[str, str]:
        # Spark passes over a key outside spark.* (a line in its log at most): executor.memory
        # instead of spark.executor.memory would quietly change nothing.
        for key in settings:
            if not key.startswith("spark."):
                raise ValueError(f"Spark configuration keys start with 'spark.', got {key!r}")
        return settings

    @field_validator("spark_master")
    @classmethod
    def _known_master(cls, master: str) -> str:
        if not (master.startswith(("local", "spark://", "k8s://", "yarn", "mesos://"))):
            raise ValueError(f"a Spark master URL: local[N], spark://host:port, k8s://..., yarn; got {master!r}")
        return master


def _spark_text(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value  # text stays text; anything else is refused by the type, naming the key
