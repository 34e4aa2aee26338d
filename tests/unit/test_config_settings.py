"""Defaults, per-section rules and the shipped YAML files."""

from __future__ import annotations

import io
from pathlib import Path

import pydantic
import pytest
import yaml
from pydantic import SecretStr

from bot.config import (
    ConfigError,
    ExchangeSettings,
    IngestSettings,
    RedisSettings,
    ReplayExchangeSettings,
    Settings,
    check_config,
    load_settings,
    mask_url_password,
    secret_values,
)
from bot.config.sections import DEFAULT_RECORDING, DEFAULT_RECORDINGS, RECORDINGS_DIRECTORY

REPOSITORY = Path(__file__).resolve().parents[2]


def invalid(model: type[pydantic.BaseModel], **values: object) -> str:
    with pytest.raises(pydantic.ValidationError) as caught:
        model(**values)
    return str(caught.value)


def test_defaults() -> None:
    settings = Settings(ingest={"symbols": ["BTCUSDT"]})
    assert settings.data_directory == Path("var")
    assert settings.redis == RedisSettings()
    assert settings.redis.url is None and settings.redis.namespace == "tradebot"
    assert settings.redis.connect_timeout_seconds == 5 and settings.redis.write_batch_size == 2048
    assert settings.redis.stream_max_length == {
        "trade": 1_000_000, "aggTrade": 1_000_000, "kline": 200_000, "bookTicker": 200_000,
        "depthUpdate": 200_000, "ticker": 100_000, "miniTicker": 100_000,
    }  # fmt: skip
    assert settings.exchange.venue == "replay"
    assert settings.exchange.rest_base_url is None and settings.exchange.websocket_base_url is None
    assert settings.exchange.api_key is None and settings.exchange.api_secret is None
    assert settings.exchange.request_timeout_seconds == 10
    assert settings.exchange.rest_weight_limit_per_minute == 6000
    ingest = settings.ingest
    assert ingest.streams == ("trade", "bookTicker", "depth@100ms", "kline_1m")
    assert (ingest.max_streams_per_connection, ingest.control_messages_per_second) == (1024, 4)
    assert (ingest.connection_lifetime_seconds, ingest.connection_overlap_seconds) == (82800, 30)
    assert ingest.stale_after_seconds == 30
    assert (
        ingest.backoff_initial_seconds,
        ingest.backoff_max_seconds,
        ingest.backoff_multiplier,
    ) == (0.5, 30, 2)
    assert (ingest.depth_snapshot_limit, ingest.backfill_max_records) == (1000, 100_000)
    replay = settings.replay_exchange
    assert replay.enabled and replay.host == "127.0.0.1"
    assert (replay.websocket_port, replay.rest_port, replay.speed, replay.loop) == (
        0,
        0,
        1.0,
        False,
    )
    assert replay.recordings == DEFAULT_RECORDINGS
    assert DEFAULT_RECORDING.is_file() and DEFAULT_RECORDING.is_absolute()
    assert (settings.metrics.enabled, settings.metrics.host, settings.metrics.port) == (
        True,
        "127.0.0.1",
        9108,
    )
    assert (settings.logging.level, settings.logging.format) == ("INFO", "auto")


def test_settings_are_frozen() -> None:
    settings = Settings(ingest={"symbols": ["BTCUSDT"]})
    with pytest.raises(pydantic.ValidationError):
        settings.ingest.stale_after_seconds = 1  # type: ignore[misc]
    # The supported way to derive run-time values (e.g. the replay exchange's URLs):
    updated = settings.model_copy(
        update={"metrics": settings.metrics.model_copy(update={"port": 1})}
    )
    assert updated.metrics.port == 1 and settings.metrics.port == 9108


def test_shipped_default_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPOSITORY)
    settings = load_settings(None, {})
    assert settings.exchange.venue == "replay"
    assert settings.ingest.symbols == ("BTCUSDT",)
    assert settings.ingest.streams == ("trade", "bookTicker", "depth@100ms")
    assert settings.replay_exchange.recordings == DEFAULT_RECORDINGS
    assert settings.redis.url is None


def test_shipped_testnet_example_loads() -> None:
    settings = load_settings(REPOSITORY / "config" / "binance-testnet.example.yaml", {})
    assert settings.exchange.venue == "binance-testnet"
    assert settings.exchange.rest_base_url == "https://testnet.binance.vision"
    assert settings.exchange.websocket_base_url == "wss://stream.testnet.binance.vision"
    assert not settings.replay_exchange.enabled


def test_venue_endpoints() -> None:
    binance = ExchangeSettings(venue="binance")
    assert (binance.rest_base_url, binance.websocket_base_url) == (
        "https://api.binance.com",
        "wss://stream.binance.com:9443",
    )
    custom = ExchangeSettings(venue="binance", rest_base_url="https://api1.binance.com/")
    assert custom.rest_base_url == "https://api1.binance.com"  # trailing slash dropped
    assert ExchangeSettings(venue="replay").rest_base_url is None  # filled in at run time
    assert "must start with wss:// or ws://" in invalid(
        ExchangeSettings, websocket_base_url="https://x"
    )


def test_stream_max_length_overrides_merge_with_defaults() -> None:
    redis = RedisSettings(stream_max_length={"trade": 10})
    assert redis.stream_max_length["trade"] == 10 and redis.stream_max_length["ticker"] == 100_000
    assert "unknown event kind 'trades'" in invalid(RedisSettings, stream_max_length={"trades": 1})
    assert "greater than 0" in invalid(RedisSettings, stream_max_length={"trade": 0})


def test_namespace_is_key_safe() -> None:
    assert RedisSettings(namespace="bot-2_a").namespace == "bot-2_a"
    assert "use only a-z, 0-9" in invalid(RedisSettings, namespace="Bot:1")


def test_symbols() -> None:
    assert IngestSettings(symbols=["btcusdt", " ETHUSDT"]).symbols == ("BTCUSDT", "ETHUSDT")
    assert "name at least one symbol" in invalid(IngestSettings, symbols=[])
    assert "'BTC/USDT' is not a symbol" in invalid(IngestSettings, symbols=["BTC/USDT"])
    assert "'B' is not a symbol" in invalid(IngestSettings, symbols=["B"])
    assert "'BTCUSDT' is listed twice" in invalid(IngestSettings, symbols=["BTCUSDT", "btcusdt"])


@pytest.mark.parametrize(
    "stream",
    [
        "trade",
        "aggTrade",
        "bookTicker",
        "depth",
        "depth@100ms",
        "ticker",
        "miniTicker",
        "kline_1s",
        "kline_1M",
        "kline_12h",
    ],
)
def test_known_streams(stream: str) -> None:
    assert IngestSettings(symbols=["BTCUSDT"], streams=[stream]).streams == (stream,)


@pytest.mark.parametrize("stream", ["kline_2m", "kline", "depth@500ms", "Trade", "bookticker"])
def test_unknown_streams(stream: str) -> None:
    assert f"unknown stream {stream!r}" in invalid(
        IngestSettings, symbols=["BTCUSDT"], streams=[stream]
    )


def ingest_problem(tmp_path: Path, **values: object) -> str:
    """The loader's one-line message for an ingest section with these values."""
    path = tmp_path / "tradebot.yaml"
    path.write_text(
        yaml.safe_dump({"ingest": {"symbols": ["BTCUSDT"], **values}}), encoding="utf-8"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    return str(caught.value).removeprefix(f"{path}: ")


def test_ingest_limits(tmp_path: Path) -> None:
    def problem(**values: object) -> str:
        return ingest_problem(tmp_path, **values)

    assert problem(max_streams_per_connection=1025) == (
        "ingest.max_streams_per_connection: must be at most 1024, got 1025"
    )
    assert problem(max_streams_per_connection=0) == (
        "ingest.max_streams_per_connection: must be at least 1, got 0"
    )
    assert problem(control_messages_per_second=6) == (
        "ingest.control_messages_per_second: must be at most 5, got 6"
    )
    assert problem(control_messages_per_second=0) == (
        "ingest.control_messages_per_second: must be at least 1, got 0"
    )
    assert problem(connection_lifetime_seconds=86400) == (
        "ingest.connection_lifetime_seconds: must be less than 86400, got 86400"
    )
    assert problem(connection_lifetime_seconds=100, connection_overlap_seconds=100) == (
        "ingest.connection_overlap_seconds: "
        "must be shorter than connection_lifetime_seconds (100), got 100"
    )
    assert problem(backoff_initial_seconds=5, backoff_max_seconds=1) == (
        "ingest.backoff_max_seconds: must be at least backoff_initial_seconds (5), got 1"
    )
    assert (
        problem(backoff_multiplier=0.5) == "ingest.backoff_multiplier: must be at least 1, got 0.5"
    )
    assert (
        problem(depth_snapshot_limit=5001)
        == "ingest.depth_snapshot_limit: must be at most 5000, got 5001"
    )


def test_recordings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundled_name = DEFAULT_RECORDING.name
    assert ReplayExchangeSettings(recordings=[bundled_name]).recordings == (DEFAULT_RECORDING,)
    local = tmp_path / "mine.jsonl"
    local.write_text("{}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert ReplayExchangeSettings(recordings=["mine.jsonl"]).recordings == (local.resolve(),)
    message = invalid(ReplayExchangeSettings, recordings=["absent.jsonl"])
    assert (
        "recording not found: absent.jsonl "
        f"(looked in the current directory and {RECORDINGS_DIRECTORY})" in message
    )
    assert "name at least one recording" in invalid(ReplayExchangeSettings, recordings=[])
    # A disabled replay exchange reads nothing, so its recordings are not checked.
    assert ReplayExchangeSettings(enabled=False, recordings=["absent.jsonl"]).recordings == (
        Path("absent.jsonl"),
    )
    assert ReplayExchangeSettings(speed=None).speed is None


def test_secret_values_and_masked_urls() -> None:
    settings = Settings(
        ingest={"symbols": ["BTCUSDT"]},
        redis={"url": "redis://user:p4ssword@cache:6379/0"},
        exchange={"api_key": SecretStr("the-key"), "api_secret": "the-secret"},
    )
    assert sorted(secret_values(settings)) == ["p4ssword", "the-key", "the-secret"]
    assert (
        mask_url_password("redis://user:p4ssword@cache:6379/0") == "redis://user:***@cache:6379/0"
    )
    assert mask_url_password("redis://cache:6379/0") == "redis://cache:6379/0"


def test_check_config_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPOSITORY)
    out, err = io.StringIO(), io.StringIO()
    assert check_config(None, {}, out, err) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == "OK: config/tradebot.yaml"
    assert "  symbols: BTCUSDT" in lines
    assert err.getvalue() == ""


def test_check_config_failure(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("ingest:\n  symbols: [BTCUSDT]\n  symbolz: []\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert check_config(path, {}, out, err) == 2
    assert out.getvalue() == ""
    assert err.getvalue() == f"{path}: ingest.symbolz: unknown key (did you mean 'symbols'?)\n"


def test_check_config_never_prints_a_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("ingest:\n  symbols: [BTCUSDT]\n", encoding="utf-8")
    environ = {
        "TRADEBOT_EXCHANGE__API_KEY": "key-abcdef",
        "TRADEBOT_EXCHANGE__API_SECRET": "secret-abcdef",
        "TRADEBOT_REDIS__URL": "redis://:pw-abcdef@cache:6379/0",
    }
    assert check_config(str(path), environ) == 0
    captured = capsys.readouterr()
    assert "API key set" in captured.out and "redis://:***@cache:6379/0" in captured.out
    for secret in ("key-abcdef", "secret-abcdef", "pw-abcdef"):
        assert secret not in captured.out + captured.err


def test_config_error_needs_a_problem() -> None:
    with pytest.raises(ValueError):
        ConfigError([])


def test_depth_cadences_exclude_each_other(tmp_path: Path) -> None:
    assert ingest_problem(tmp_path, streams=["depth", "depth@100ms"]) == (
        "ingest.streams: 'depth' and 'depth@100ms' feed the same book: choose one"
    )
