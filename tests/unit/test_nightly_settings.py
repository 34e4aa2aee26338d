"""The nightly section: its cron, time limit and Spark master are checked when settings load."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from bot.config.nightly import NightlySettings
from bot.nightly.scheduler import NightlyScheduler


def test_defaults_run_at_two_utc_every_night():
    settings = NightlySettings()
    assert not settings.enabled  # training is opted into, never started by surprise
    trigger = NightlyScheduler(runner=None, cron=settings.cron).trigger
    after = datetime(2026, 11, 21, 2, 0, 1, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, after) == datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    before = datetime(2026, 11, 21, 1, 59, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, before) == datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"cron": "0 25 * * *"}, "cron", "five-field crontab"),
        ({"cron": "every night"}, "cron", "five-field crontab"),
        ({"time_limit_minutes": 0}, "time_limit_minutes", "greater than or equal to 1"),
        ({"spark_master": "http://host:7077"}, "spark_master", "spark://host:port"),
        ({"interval": "7m"}, "interval", "7m"),
        ({"horizon_bars": 0}, "horizon_bars", "greater than or equal to 1"),
        ({"model_kind": "ranker"}, "model_kind", "classifier"),
        ({"archive": True}, "archive", "Extra inputs are not permitted"),
    ],
)
def test_bad_values_name_the_field_and_the_reason(values, field, words):
    with pytest.raises(ValidationError) as raised:
        NightlySettings(**values)
    (error,) = raised.value.errors()
    assert error["loc"] == (field,)
    assert words in str(raised.value)
