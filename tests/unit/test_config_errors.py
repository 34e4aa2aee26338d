"""Every way a configuration can be wrong gives one line naming the file (or variable) and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

MINIMAL = "ingest:\n  symbols: [BTCUSDT]\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tradebot.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ or {})
    message = str(caught.value)
    assert "\n" not in message, "the first problem must stand alone on one line"
    return caught.value


def test_unknown_key_names_file_and_dotted_key(tmp_path: Path) -> None:
    path = write(tmp_path, "ingest:\n  symbols: [BTCUSDT]\n  symbolz: [ETHUSDT]\n")
    assert str(error_of(path)) == f"{path}: ingest.symbolz: unknown key (did you mean 'symbols'?)"


def test_unknown_section(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "telemetry:\n  enabled: true\n")
    assert str(error_of(path)) == f"{path}: telemetry: unknown key"


def test_misspelt_key_is_the_one_problem_not_also_the_missing_key_it_causes(tmp_path: Path) -> None:
    path = write(tmp_path, "ingest:\n  symbolz: [BTCUSDT]\n")
    error = error_of(path)
    assert error.lines() == [f"{path}: ingest.symbolz: unknown key (did you mean 'symbols'?)"]


def test_a_missing_key_without_a_near_miss_is_still_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "ingest:\n  streams: [trade]\n  colour: blue\n")
    assert error_of(path).lines() == [
        f"{path}: ingest.colour: unknown key",
        f"{path}: ingest.symbols: required, but not set",
    ]


def test_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "  stale_after_seconds: abc\n")
    assert (
        str(error_of(path)) == f"{path}: ingest.stale_after_seconds: expected a number, got 'abc'"
    )


def test_wrong_type_whole_number(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "redis:\n  write_batch_size: 1.5\n")
    assert (
        str(error_of(path)) == f"{path}: redis.write_batch_size: expected a whole number, got 1.5"
    )


def test_value_out_of_range(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "  max_streams_per_connection: 1025\n")
    assert (
        str(error_of(path))
        == f"{path}: ingest.max_streams_per_connection: must be at most 1024, got 1025"
    )


def test_literal_choices_are_listed(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "exchange:\n  venue: binanse\n")
    assert str(error_of(path)) == (
        f"{path}: exchange.venue: "
        "expected one of 'replay', 'binance' or 'binance-testnet', got 'binanse'"
    )


def test_list_item_is_named_by_index(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "replay_exchange:\n  recordings: [{a: 1}]\n")
    assert (
        str(error_of(path)) == f"{path}: replay_exchange.recordings[0]: "
        "expected a file or directory path, got a mapping"
    )


def test_missing_required_key(tmp_path: Path) -> None:
    path = write(tmp_path, "ingest:\n  streams: [trade]\n")
    assert str(error_of(path)) == f"{path}: ingest.symbols: required, but not set"


def test_empty_file_still_needs_the_ingest_section(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing yet\n")
    assert str(error_of(path)) == f"{path}: ingest: required, but not set"


def test_secret_in_yaml_is_refused_and_not_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "exchange:\n  api_key: hunter2-very-secret\n")
    error = error_of(path)
    assert str(error) == (
        f"{path}: exchange.api_key: secrets come from the environment "
        "(set TRADEBOT_EXCHANGE__API_KEY or TRADEBOT_EXCHANGE__API_KEY_FILE)"
    )
    assert all("hunter2" not in line for line in error.lines())


def test_secret_file_name_in_yaml_is_refused_too(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "exchange:\n  api_secret_file: /run/secrets/secret\n")
    assert str(error_of(path)).startswith(
        f"{path}: exchange.api_secret_file: secrets come from the environment"
    )


def test_secret_in_yaml_comes_first_even_after_other_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "ingest:\n  symbolz: [X]\nexchange:\n  api_secret: abcdef\n")
    assert str(error_of(path)).startswith(f"{path}: exchange.api_secret: secrets come from")


def test_unparsable_yaml_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "ingest:\n  symbols: [BTCUSDT\nredis: {}\n")
    assert str(error_of(path)) == (
        f"{path}: line 3, column 6: invalid YAML: expected ',' or ']', but got ':'"
    )


def test_bad_indentation(tmp_path: Path) -> None:
    path = write(tmp_path, "ingest:\n  symbols: [BTCUSDT]\n streams: [trade]\n")
    assert str(error_of(path)).startswith(f"{path}: line 3, column 2: invalid YAML: ")


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "ingest:\n  symbols: [BTCUSDT]\n  symbols: [ETHUSDT]\n")
    assert str(error_of(path)) == f"{path}: line 3, column 3: invalid YAML: duplicate key 'symbols'"


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- ingest\n- redis\n")
    assert str(error_of(path)) == f"{path}: the top level must be a mapping of sections, got a list"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    assert str(error_of(path)) == f"{path}: file not found"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    assert str(error_of(tmp_path)) == f"{tmp_path}: is a directory, not a settings file"


def test_section_of_the_wrong_shape(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "redis: 5\n")
    assert str(error_of(path)) == f"{path}: redis: expected a mapping of keys to values, got 5"


def test_cross_section_rule_replay_needs_its_exchange(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "replay_exchange:\n  enabled: false\n")
    assert str(error_of(path)) == (
        f"{path}: exchange.venue: 'replay' needs the embedded replay exchange "
        "(replay_exchange.enabled: true) "
        "or both exchange.rest_base_url and exchange.websocket_base_url"
    )


def test_all_problems_are_listed_not_just_the_first(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL + "  stale_after_seconds: -1\nmetrics:\n  port: 70000\nlogging:\n  level: LOUD\n",
    )
    assert error_of(path).lines() == [
        f"{path}: ingest.stale_after_seconds: must be greater than 0, got -1",
        f"{path}: metrics.port: must be at most 65535, got 70000",
        f"{path}: logging.level: expected one of 'DEBUG', 'INFO', 'WARNING' or 'ERROR', got 'LOUD'",
    ]


def test_spark_settings_take_only_spark_keys_and_plain_values(tmp_path: Path) -> None:
    # Spark passes over a key outside spark.*: executor.memory would quietly change nothing.
    path = write(tmp_path, MINIMAL + "nightly:\n  spark_settings: {executor.memory: 4g}\n")
    assert str(error_of(path)) == (
        f"{path}: nightly.spark_settings: Spark configuration keys start with 'spark.', got 'executor.memory'"
    )
    path = write(tmp_path, MINIMAL + "nightly:\n  spark_settings: {spark.sql.shuffle.partitions: [8]}\n")
    assert str(error_of(path)).startswith(f"{path}: nightly.spark_settings.spark.sql.shuffle.partitions: ")
    # YAML's numbers and booleans are Spark's text for them.
    path = write(tmp_path, MINIMAL + "nightly:\n  spark_settings: {spark.sql.shuffle.partitions: 8, spark.sql.adaptive.enabled: true}\n")
    assert load_settings(path, {}).nightly.spark_settings == {"spark.sql.shuffle.partitions": "8", "spark.sql.adaptive.enabled": "true"}
