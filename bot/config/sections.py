"""One small frozen model per settings section.

Every section forbids unknown keys (a misspelt key would otherwise silently fall back to a default)
and validates its defaults too, so a default that stops making sense fails loudly at start-up.
Validator messages are written for the operator: ConfigError prefixes them with file and key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.config.streams import DEFAULT_STREAM_MAX_LENGTH, STREAM_KINDS, describe_stream_kinds

Port = Annotated[int, Field(ge=0, le=65535)]  # 0 asks the OS for a free port

_NAMESPACE_PATTERN = re.compile(r"[a-z0-9_-]+")
_SYMBOL_PATTERN = re.compile(r"[A-Z0-9]{2,20}")

RECORDINGS_DIRECTORY = Path(__file__).resolve().parent.parent / "sim" / "recordings"
DEFAULT_RECORDING = (
    RECORDINGS_DIRECTORY
    / "spot_BTCUSDT_depth100ms-bookTicker-trade_2024-08-08T2354_2024-08-09T0005.jsonl.gz"
)
# Served alongside: the exchange's symbol rules (the paper broker applies their filters) and the
# all-symbol 24h tickers the market scanner reads.
DEFAULT_RECORDINGS = (
    DEFAULT_RECORDING,
    RECORDINGS_DIRECTORY / "spot_exchangeInfo_2021-10-12.json.gz",
    RECORDINGS_DIRECTORY / "spot_ticker_24hr_all_symbols_2020-09-29.json.gz",
)

# Binance's own endpoints; the replay venue gets its URLs from the replay exchange at run time.
BINANCE_ENDPOINTS: dict[str, tuple[str, str]] = {
    "binance": ("https://api.binance.com", "wss://stream.binance.com:9443"),
    "binance-testnet": ("https://testnet.binance.vision", "wss://stream.testnet.binance.vision"),
}


class SectionModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _check_url(url: str | None, schemes: tuple[str, ...]) -> str | None:
    if url is None:
        return None
    if not url.startswith(tuple(f"{scheme}://" for scheme in schemes)):
        allowed = " or ".join(f"{scheme}://" for scheme in schemes)
        raise ValueError(f"must start with {allowed}, got {url!r}")
    # Callers join paths onto base URLs; one canonical form avoids "//api/v3".
    return url.rstrip("/")


class RedisSettings(SectionModel):
    url: str | None = None  # None: start a private redis-server under data_directory
    namespace: str = "tradebot"
    connect_timeout_seconds: PositiveFloat = 5.0
    stream_max_length: dict[str, PositiveInt] = Field(
        default_factory=lambda: dict(DEFAULT_STREAM_MAX_LENGTH)
    )
    write_batch_size: PositiveInt = 2048

    @field_validator("url")
    @classmethod
    def _url_is_redis(cls, url: str | None) -> str | None:
        if url is None:
            return None
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return url

    @field_validator("namespace")
    @classmethod
    def _namespace_is_key_safe(cls, namespace: str) -> str:
        # The namespace prefixes every key; keeping it to these characters keeps keys greppable
        # and free of the ':' separator and of glob characters that would break SCAN patterns.
        if not _NAMESPACE_PATTERN.fullmatch(namespace):
            raise ValueError(f"use only a-z, 0-9, '_' and '-', got {namespace!r}")
        return namespace

    @field_validator("stream_max_length")
    @classmethod
    def _known_kinds_over_defaults(cls, lengths: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(lengths) - set(DEFAULT_STREAM_MAX_LENGTH))
        if unknown:
            known = ", ".join(DEFAULT_STREAM_MAX_LENGTH)
            raise ValueError(f"unknown event kind {unknown[0]!r} (known: {known})")
        # Overriding one kind must not drop the others back to "untrimmed".
        return {**DEFAULT_STREAM_MAX_LENGTH, **lengths}


class ExchangeSettings(SectionModel):
    venue: Literal["replay", "binance", "binance-testnet"] = "replay"
    rest_base_url: str | None = None
    websocket_base_url: str | None = None
    # Secrets: only ever from TRADEBOT_EXCHANGE__API_KEY or a file named by ..._API_KEY_FILE.
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    request_timeout_seconds: PositiveFloat = 10.0
    rest_weight_limit_per_minute: PositiveInt = 6000

    @model_validator(mode="before")
    @classmethod
    def _binance_endpoints_by_default(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        endpoints = BINANCE_ENDPOINTS.get(data.get("venue", "replay"))
        if endpoints is None:
            return data
        data = dict(data)
        if data.get("rest_base_url") is None:
            data["rest_base_url"] = endpoints[0]
        if data.get("websocket_base_url") is None:
            data["websocket_base_url"] = endpoints[1]
        return data

    @field_validator("rest_base_url")
    @classmethod
    def _rest_is_http(cls, url: str | None) -> str | None:
        return _check_url(url, ("https", "http"))

    @field_validator("websocket_base_url")
    @classmethod
    def _websocket_is_ws(cls, url: str | None) -> str | None:
        return _check_url(url, ("wss", "ws"))

    @field_validator("api_secret")
    @classmethod
    def _key_and_secret_together(
        cls, api_secret: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        # A key without its secret fails only at the first signed request, maybe hours later.
        has_key = info.data.get("api_key") is not None
        if has_key and api_secret is None:
            raise ValueError("required because api_key is set")
        if api_secret is not None and not has_key and "api_key" in info.data:
            raise ValueError("set, but api_key is not: set both or neither")
        return api_secret


class IngestSettings(SectionModel):
    symbols: tuple[str, ...]
    # Take market data in here. False: another tradebot process ingests into the same Redis
    # and this one only runs the engine over the record.
    enabled: bool = True
    streams: tuple[str, ...] = ("trade", "bookTicker", "depth@100ms", "kline_1m")
    # Binance closes a connection that asks for more than 1024 streams.
    max_streams_per_connection: Annotated[int, Field(ge=1, le=1024)] = 1024
    # Binance allows 5 incoming messages (subscribe, ping, pong) per second per connection; 4 for
    # SUBSCRIBE batches leaves room for the keepalive ping/pong in the same second.
    control_messages_per_second: Annotated[int, Field(ge=1, le=5)] = 4
    # Binance drops every connection at 24 h; we roll over earlier, on our own schedule.
    connection_lifetime_seconds: Annotated[float, Field(gt=0, lt=86400)] = 82800.0
    connection_overlap_seconds: Annotated[float, Field(ge=0)] = 30.0
    stale_after_seconds: PositiveFloat = 30.0
    backoff_initial_seconds: PositiveFloat = 0.5
    backoff_max_seconds: PositiveFloat = 30.0
    backoff_multiplier: Annotated[float, Field(ge=1)] = 2.0
    depth_snapshot_limit: Annotated[int, Field(ge=1, le=5000)] = 1000
    backfill_max_records: PositiveInt = 100_000

    @field_validator("symbols")
    @classmethod
    def _symbols_are_valid(cls, symbols: tuple[str, ...]) -> tuple[str, ...]:
        if not symbols:
            raise ValueError("name at least one symbol, e.g. [BTCUSDT]")
        # Binance spells symbols upper-case in REST, lower-case in stream names; we keep one form.
        normalized = tuple(symbol.strip().upper() for symbol in symbols)
        for symbol in normalized:
            if not _SYMBOL_PATTERN.fullmatch(symbol):
                raise ValueError(
                    f"{symbol!r} is not a symbol (2-20 letters or digits, like BTCUSDT)"
                )
        _reject_duplicates(normalized)
        return normalized

    @field_validator("streams")
    @classmethod
    def _streams_are_known(cls, streams: tuple[str, ...]) -> tuple[str, ...]:
        if not streams:
            raise ValueError("name at least one stream, e.g. [trade]")
        for stream in streams:
            if stream not in STREAM_KINDS:
                raise ValueError(f"unknown stream {stream!r} (known: {describe_stream_kinds()})")
        _reject_duplicates(streams)
        if "depth" in streams and "depth@100ms" in streams:
            # Both cadences carry the same diffs into one record and one book; one must go.
            raise ValueError("'depth' and 'depth@100ms' feed the same book: choose one")
        return streams

    @field_validator("connection_overlap_seconds")
    @classmethod
    def _overlap_shorter_than_lifetime(cls, overlap: float, info: ValidationInfo) -> float:
        lifetime = info.data.get("connection_lifetime_seconds")
        if lifetime is not None and overlap >= lifetime:
            raise ValueError(
                f"must be shorter than connection_lifetime_seconds ({lifetime:g}), got {overlap:g}"
            )
        return overlap

    @field_validator("backoff_max_seconds")
    @classmethod
    def _max_not_below_initial(cls, maximum: float, info: ValidationInfo) -> float:
        initial = info.data.get("backoff_initial_seconds")
        if initial is not None and maximum < initial:
            raise ValueError(
                f"must be at least backoff_initial_seconds ({initial:g}), got {maximum:g}"
            )
        return maximum


def _reject_duplicates(values: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{value!r} is listed twice")
        seen.add(value)


class ReplayExchangeSettings(SectionModel):
    enabled: bool = True
    host: str = "127.0.0.1"
    websocket_port: Port = 0
    rest_port: Port = 0
    recordings: tuple[Path, ...] = DEFAULT_RECORDINGS
    speed: PositiveFloat | None = 1.0  # None: as fast as the client reads
    loop: bool = False

    @field_validator("recordings")
    @classmethod
    def _recordings_exist(
        cls, recordings: tuple[Path, ...], info: ValidationInfo
    ) -> tuple[Path, ...]:
        if not info.data.get("enabled", True):
            return recordings  # a disabled replay exchange reads nothing, so nothing to check
        if not recordings:
            raise ValueError("name at least one recording, or set enabled: false")
        return tuple(_find_recording(path) for path in recordings)


def _find_recording(path: Path) -> Path:
    """A relative path is looked up in the current directory, then among the bundled recordings."""
    path = path.expanduser()
    if path.is_file():
        return path.resolve()
    bundled = RECORDINGS_DIRECTORY / path
    if not path.is_absolute() and bundled.is_file():
        return bundled
    if path.is_absolute():
        raise ValueError(f"recording not found: {path}")
    raise ValueError(
        f"recording not found: {path} (looked in the current directory and {RECORDINGS_DIRECTORY})"
    )


class MetricsSettings(SectionModel):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: Port = 9108


class LoggingSettings(SectionModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "console", "json"] = "auto"

    @field_validator("level", mode="before")
    @classmethod
    def _level_any_case(cls, level: Any) -> Any:
        return level.upper() if isinstance(level, str) else level


_URI_PATTERN = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://.+")


class LakeSettings(SectionModel):
    """The history lake (Parquet, docs/architecture.md "History lake") and its archive task."""

    # A local path or a URI pyarrow/Hadoop understand (file:///srv/lake, s3://bucket/lake).
    # None: <data_directory>/lake.
    root: str | None = None
    # The daemon's archive task moves closed klines, trades and aggTrades from the Redis streams
    # into the raw layer. Off unless asked for, so a test or a throwaway run writes no files.
    archive_enabled: bool = False
    # How often it runs. It must run before the streams' MAXLEN trim reaches unarchived entries:
    # at 1,000 trades/s a 1,000,000-entry stream holds ~16 minutes, so the default is well inside.
    archive_interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    # Entries read from one stream per pass step (one Parquet file per date per step).
    archive_batch_size: Annotated[int, Field(ge=100, le=1_000_000)] = 100_000

    @field_validator("root")
    @classmethod
    def _root_is_path_or_uri(cls, root: str | None) -> str | None:
        if root is None:
            return None
        root = root.strip()
        if not root:
            raise ValueError("must be a path or a URI such as s3://bucket/lake; leave it unset for <data_directory>/lake")
        if "://" in root and not _URI_PATTERN.fullmatch(root):
            raise ValueError(f"{root!r} is not a URI (scheme://location, e.g. s3://bucket/lake)")
        return root.rstrip("/") or "/"
