"""The `lake` settings section: defaults, the root as a path or URI, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, lake_root, load_settings

MINIMAL = "ingest:\n  symbols: [BTCUSDT]\n"


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None):
    path = tmp_path / "tradebot.yaml"
    path.write_text(MINIMAL + text, encoding="utf-8")
    return load_settings(path, environ or {})


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return str(caught.value)


def test_defaults_put_the_lake_under_the_data_directory_with_the_archive_off(tmp_path):
    settings = load(tmp_path, "data_directory: /srv/tradebot\n")
    assert lake_root(settings) == "/srv/tradebot/lake"
    assert settings.lake.archive_enabled is False
    assert settings.lake.archive_interval_seconds == 60.0


def test_a_uri_root_and_environment_overrides(tmp_path):
    settings = load(tmp_path, "lake:\n  root: s3://bucket/lake/\n  archive_enabled: true\n",
                    {"TRADEBOT_LAKE__ARCHIVE_INTERVAL_SECONDS": "30"})
    assert lake_root(settings) == "s3://bucket/lake"
    assert settings.lake.archive_enabled is True and settings.lake.archive_interval_seconds == 30.0


def test_bad_values_name_the_key_and_the_reason(tmp_path):
    path = tmp_path / "tradebot.yaml"
    assert error_of(tmp_path, "lake:\n  rooot: /tmp/lake\n") == f"{path}: lake.rooot: unknown key (did you mean 'root'?)"
    assert error_of(tmp_path, "lake:\n  archive_interval_seconds: 0\n").startswith(f"{path}: lake.archive_interval_seconds: ")
    assert "must be at most 3600" in error_of(tmp_path, "lake:\n  archive_interval_seconds: 7200\n")
    assert "is not a URI" in error_of(tmp_path, "lake:\n  root: 's3://'\n")
    assert "must be a path or a URI" in error_of(tmp_path, "lake:\n  root: '  '\n")
