"""Settings of the model registry and the daemon's hot-loading of new model versions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, PositiveFloat, PositiveInt

from bot.config.sections import SectionModel

_TWO_DAYS_MINUTES = 2 * 24 * 60


class ModelSettings(SectionModel):
    # The registry: <root>/<name>/<version>/ and <root>/<name>/CURRENT. Left out:
    # <data_directory>/models (see `root_under`).
    root: Path | None = None
    # How often the daemon reads CURRENT besides listening on <namespace>:models:<name>: a missed
    # notice only delays the switch by this much.
    poll_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    # A model whose training window ended longer ago than this is stale: the watcher alerts and
    # the ML strategy answers HOLD (its own `max_model_age_minutes`, measured in bar time).
    max_age_minutes: PositiveFloat = _TWO_DAYS_MINUTES
    # Versions kept on disk by the nightly pipeline's pruning (the current one is never pruned).
    keep_versions: PositiveInt = 5

    def root_under(self, data_directory: Path) -> Path:
        return self.root if self.root is not None else Path(data_directory) / "models"

    @property
    def max_age_ns(self) -> int:
        return int(self.max_age_minutes * 60 * 1_000_000_000)
