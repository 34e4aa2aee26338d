"""`tradebot config check [FILE]`: validate settings without starting anything."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from bot.config.errors import ConfigError
from bot.config.loader import load_settings, resolve_config_path
from bot.config.settings import Settings, lake_root, mask_url_password

EXIT_OK = 0
EXIT_INVALID = 2  # the usual exit code for "bad usage or configuration"


def check_config(
    path: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Print `OK: <file>` and a summary (exit 0), or the problems on stderr, worst first (2)."""
    environ = os.environ if environ is None else environ
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    resolved = resolve_config_path(path, environ)
    try:
        settings = load_settings(resolved, environ)
    except ConfigError as error:
        for line in error.lines():
            print(line, file=stderr)
        return EXIT_INVALID
    print(f"OK: {resolved}", file=stdout)
    for line in summarize_settings(settings):
        print(f"  {line}", file=stdout)
    return EXIT_OK


def summarize_settings(settings: Settings) -> list[str]:
    """A few lines saying what this configuration will do; never shows a secret."""
    exchange = settings.exchange
    if exchange.rest_base_url and exchange.websocket_base_url:
        endpoints = f"{exchange.rest_base_url}, {exchange.websocket_base_url}"
    else:
        endpoints = "endpoints from the embedded replay exchange"
    credentials = "API key set" if exchange.api_key is not None else "no API key"
    redis = (
        mask_url_password(settings.redis.url)
        if settings.redis.url
        else f"private redis-server under {settings.data_directory / 'redis'}"
    )
    replay = settings.replay_exchange
    if replay.enabled:
        speed = "as fast as read" if replay.speed is None else f"{replay.speed:g}x"
        replay_line = f"on, {len(replay.recordings)} recording(s), speed {speed}" + (
            ", looping" if replay.loop else ""
        )
    else:
        replay_line = "off"
    metrics = settings.metrics
    return [
        f"venue: {exchange.venue} ({endpoints}; {credentials})",
        f"symbols: {', '.join(settings.ingest.symbols)}",
        f"streams: {', '.join(settings.ingest.streams)}",
        f"redis: {redis} (namespace {settings.redis.namespace})",
        f"replay exchange: {replay_line}",
        f"metrics: {f'http://{metrics.host}:{metrics.port}/metrics' if metrics.enabled else 'off'}",
        f"logging: {settings.logging.level} {settings.logging.format}",
        f"history lake: {lake_root(settings)}, archive "
        + (f"every {settings.lake.archive_interval_seconds:g} s" if settings.lake.archive_enabled else "off"),
    ]
