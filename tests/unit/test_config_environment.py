"""TRADEBOT_* variables override the file; secrets come only from them (or files they name)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

MINIMAL = "ingest:\n  symbols: [BTCUSDT]\n  stale_after_seconds: 12\n"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "tradebot.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    return path


def error_line(path: Path | None, environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ)
    return str(caught.value)


def test_precedence_environment_over_file_over_default(config_file: Path) -> None:
    assert load_settings(config_file, {}).ingest.stale_after_seconds == 12  # file over default
    settings = load_settings(
        config_file,
        {
            "TRADEBOT_INGEST__STALE_AFTER_SECONDS": "7.5",
            "TRADEBOT_REDIS__URL": "redis://cache:6379/2",
            "TRADEBOT_INGEST__SYMBOLS": '["BTCUSDT","ETHUSDT"]',
            "TRADEBOT_DATA_DIRECTORY": "/srv/tradebot",
            "TRADEBOT_LOGGING__LEVEL": "debug",
        },
    )
    assert settings.ingest.stale_after_seconds == 7.5
    assert settings.redis.url == "redis://cache:6379/2"
    assert settings.ingest.symbols == ("BTCUSDT", "ETHUSDT")
    assert settings.data_directory == Path("/srv/tradebot")
    assert settings.logging.level == "DEBUG"
    assert settings.ingest.backoff_max_seconds == 30  # untouched keys keep their defaults


def test_whole_section_as_json_then_a_deeper_variable_wins(config_file: Path) -> None:
    settings = load_settings(
        config_file,
        {
            "TRADEBOT_METRICS": '{"enabled": false, "port": 9000}',
            "TRADEBOT_METRICS__PORT": "9001",
        },
    )
    assert (settings.metrics.enabled, settings.metrics.port) == (False, 9001)


def test_mapping_from_json_keeps_other_defaults(config_file: Path) -> None:
    settings = load_settings(config_file, {"TRADEBOT_REDIS__STREAM_MAX_LENGTH": '{"trade": 5}'})
    assert settings.redis.stream_max_length["trade"] == 5
    assert settings.redis.stream_max_length["kline"] == 200_000


def test_empty_or_null_clears_an_optional_value(config_file: Path) -> None:
    assert (
        load_settings(config_file, {"TRADEBOT_REPLAY_EXCHANGE__SPEED": ""}).replay_exchange.speed
        is None
    )
    assert (
        load_settings(
            config_file, {"TRADEBOT_REPLAY_EXCHANGE__SPEED": "null"}
        ).replay_exchange.speed
        is None
    )


def test_config_variable_is_not_a_settings_key(config_file: Path) -> None:
    assert load_settings(config_file, {"TRADEBOT_CONFIG": "elsewhere.yaml"}).ingest.symbols == (
        "BTCUSDT",
    )


def test_bad_value_names_the_variable(config_file: Path) -> None:
    line = error_line(config_file, {"TRADEBOT_INGEST__STALE_AFTER_SECONDS": "abc"})
    assert line == (
        "environment TRADEBOT_INGEST__STALE_AFTER_SECONDS: ingest.stale_after_seconds: "
        "expected a number, got 'abc'"
    )


def test_bad_item_inside_json_names_the_variable(config_file: Path) -> None:
    line = error_line(config_file, {"TRADEBOT_INGEST__SYMBOLS": '["BTCUSDT", "BTC-USDT"]'})
    assert line == (
        "environment TRADEBOT_INGEST__SYMBOLS: ingest.symbols: "
        "'BTC-USDT' is not a symbol (2-20 letters or digits, like BTCUSDT)"
    )


def test_list_needs_json(config_file: Path) -> None:
    line = error_line(config_file, {"TRADEBOT_INGEST__SYMBOLS": "BTCUSDT,ETHUSDT"})
    assert line == (
        "environment TRADEBOT_INGEST__SYMBOLS: ingest.symbols: "
        "expected JSON such as '[\"BTCUSDT\", \"ETHUSDT\"]', got 'BTCUSDT,ETHUSDT'"
    )


def test_bad_redis_url(config_file: Path) -> None:
    line = error_line(config_file, {"TRADEBOT_REDIS__URL": "localhost:6379"})
    assert (
        line
        == "environment TRADEBOT_REDIS__URL: redis.url: must start with redis://, rediss:// or unix://"
    )


def test_misspelt_variable_is_an_error_not_ignored(config_file: Path) -> None:
    # A single underscore is the classic mistake: it would silently leave the default in place.
    line = error_line(config_file, {"TRADEBOT_REDIS_URL": "redis://x"})
    assert line == "environment TRADEBOT_REDIS_URL: redis_url: unknown key (did you mean 'redis'?)"
    line = error_line(config_file, {"TRADEBOT_INGEST__SYMBOLZ": '["X"]'})
    assert (
        line == "environment TRADEBOT_INGEST__SYMBOLZ: ingest.symbolz: "
        "unknown key (did you mean 'symbols'?)"
    )


def test_mapping_entries_cannot_be_set_one_by_one(config_file: Path) -> None:
    line = error_line(config_file, {"TRADEBOT_REDIS__STREAM_MAX_LENGTH__TRADE": "5"})
    assert line == (
        "environment TRADEBOT_REDIS__STREAM_MAX_LENGTH__TRADE: redis.stream_max_length.trade: "
        "cannot be set on its own; set TRADEBOT_REDIS__STREAM_MAX_LENGTH to JSON instead"
    )


def test_secrets_from_environment(config_file: Path) -> None:
    settings = load_settings(
        config_file,
        {
            "TRADEBOT_EXCHANGE__API_KEY": "key-123456",
            "TRADEBOT_EXCHANGE__API_SECRET": "secret-654321",
        },
    )
    assert settings.exchange.api_key is not None and settings.exchange.api_secret is not None
    assert settings.exchange.api_key.get_secret_value() == "key-123456"
    assert "key-123456" not in repr(settings)  # SecretStr keeps it out of reprs and logs


def test_secrets_from_files_named_by_environment(config_file: Path, tmp_path: Path) -> None:
    (tmp_path / "key").write_text("key-from-file\n", encoding="utf-8")
    (tmp_path / "secret").write_text("  secret-from-file\n\n", encoding="utf-8")
    settings = load_settings(
        config_file,
        {
            "TRADEBOT_EXCHANGE__API_KEY_FILE": str(tmp_path / "key"),
            "TRADEBOT_EXCHANGE__API_SECRET_FILE": str(tmp_path / "secret"),
        },
    )
    assert settings.exchange.api_key is not None and settings.exchange.api_secret is not None
    assert settings.exchange.api_key.get_secret_value() == "key-from-file"
    assert settings.exchange.api_secret.get_secret_value() == "secret-from-file"


def test_missing_secret_file(config_file: Path, tmp_path: Path) -> None:
    absent = tmp_path / "absent"
    line = error_line(
        config_file,
        {
            "TRADEBOT_EXCHANGE__API_KEY_FILE": str(absent),
            "TRADEBOT_EXCHANGE__API_SECRET": "s3cr3t-value",
        },
    )
    assert (
        line == "environment TRADEBOT_EXCHANGE__API_KEY_FILE: exchange.api_key: "
        f"secret file not found: {absent}"
    )


def test_empty_secret_file(config_file: Path, tmp_path: Path) -> None:
    (tmp_path / "key").write_text("\n", encoding="utf-8")
    line = error_line(config_file, {"TRADEBOT_EXCHANGE__API_KEY_FILE": str(tmp_path / "key")})
    assert (
        line == "environment TRADEBOT_EXCHANGE__API_KEY_FILE: exchange.api_key: "
        f"secret file is empty: {tmp_path / 'key'}"
    )


def test_secret_and_secret_file_together_is_ambiguous(config_file: Path, tmp_path: Path) -> None:
    (tmp_path / "key").write_text("from-file", encoding="utf-8")
    line = error_line(
        config_file,
        {
            "TRADEBOT_EXCHANGE__API_KEY": "from-variable",
            "TRADEBOT_EXCHANGE__API_KEY_FILE": str(tmp_path / "key"),
            "TRADEBOT_EXCHANGE__API_SECRET": "secret-value",
        },
    )
    assert line == (
        "environment TRADEBOT_EXCHANGE__API_KEY_FILE: exchange.api_key: "
        "also set by TRADEBOT_EXCHANGE__API_KEY: set only one of them"
    )


def test_key_without_secret(config_file: Path) -> None:
    line = error_line(config_file, {"TRADEBOT_EXCHANGE__API_KEY": "key-123456"})
    assert (
        line == "environment TRADEBOT_EXCHANGE__API_SECRET: exchange.api_secret: "
        "required because api_key is set"
    )


def test_config_file_chosen_by_variable_and_overridden_by_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = tmp_path / "named.yaml"
    named.write_text("ingest:\n  symbols: [ETHUSDT]\n", encoding="utf-8")
    given = tmp_path / "given.yaml"
    given.write_text("ingest:\n  symbols: [XRPUSDT]\n", encoding="utf-8")
    assert load_settings(None, {"TRADEBOT_CONFIG": str(named)}).ingest.symbols == ("ETHUSDT",)
    assert load_settings(given, {"TRADEBOT_CONFIG": str(named)}).ingest.symbols == ("XRPUSDT",)
    monkeypatch.chdir(tmp_path)  # no variable: config/tradebot.yaml in the current directory
    line = error_line(None, {})
    assert line == "config/tradebot.yaml: file not found"
