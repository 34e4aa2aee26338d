"""A secret handed to a log call must never reach the output, whatever form it takes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from bot.logging_setup import (
    clear_registered_secrets,
    configure_logging,
    get_logger,
    redact_text,
    register_secret,
)

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
API_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    clear_registered_secrets()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == "tradebot":
            root.removeHandler(handler)
    root.setLevel(logging.WARNING)


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_secret_never_appears_in_output(output: io.StringIO, log_format: str) -> None:
    configure_logging("DEBUG", log_format, output)
    register_secret(API_SECRET)
    register_secret(SecretStr(API_KEY))
    log = get_logger("bot.test")

    log.info("by key", api_key=API_KEY, exchange_api_secret=API_SECRET, password="pw-123456")
    log.info(
        "nested", request={"headers": {"X-MBX-APIKEY": API_KEY, "Authorization": "Bearer abcdef"}}
    )
    log.info("secret type", credentials=SecretStr(API_SECRET), items=[SecretStr(API_KEY)])
    log.info("inside a string", url=f"wss://example/ws?listenKey=1&signature={API_SECRET}")
    log.info(f"in the event itself {API_KEY}")
    try:
        raise RuntimeError(f"exchange rejected key {API_KEY}")
    except RuntimeError:
        log.exception("order failed")
    logging.getLogger("websockets.client").warning("connect %s failed", API_SECRET)

    text = output.getvalue()
    assert text.count("\n") >= 7
    assert API_KEY not in text and API_SECRET not in text and "pw-123456" not in text
    assert "abcdef" not in text
    assert "***" in text
    assert "RuntimeError" in text  # the traceback survives, minus the secret


def test_unregistered_signature_in_a_url_is_masked_by_name() -> None:
    assert redact_text("GET /api/v3/order?symbol=BTCUSDT&signature=deadbeef&timestamp=1") == (
        "GET /api/v3/order?symbol=BTCUSDT&signature=***&timestamp=1"
    )
    assert redact_text("tokens=5 retries=2") == "tokens=5 retries=2"


def test_secret_is_masked_in_its_url_and_json_escaped_forms() -> None:
    register_secret('p@ss/wo"rd+123')
    assert redact_text("redis://:p%40ss%2Fwo%22rd%2B123@cache:6379") == "redis://:***@cache:6379"
    assert redact_text('{"pw": "p@ss/wo\\"rd+123"}') == '{"pw": "***"}'
    assert redact_text('raw p@ss/wo"rd+123 end') == "raw *** end"
    clear_registered_secrets()


def test_other_handlers_on_the_root_logger_see_redacted_events(
    output: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging("INFO", "json", output)
    register_secret(API_KEY)
    get_logger("bot").info("with key", api_key=API_KEY, detail=f"key is {API_KEY}")
    assert caplog.records and API_KEY not in caplog.text
    assert all(API_KEY not in str(record.msg) for record in caplog.records)


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    register_secret("")
    register_secret(None)
    assert redact_text("abc abcd") == "abc abcd"
    clear_registered_secrets()


def test_json_lines_carry_timestamp_level_and_logger(output: io.StringIO) -> None:
    configure_logging("INFO", "json", output)
    get_logger("bot.ingest").info("connected", streams=3)
    logging.getLogger("aiohttp.access").warning("from the standard library")
    first, second = (json.loads(line) for line in output.getvalue().splitlines())
    assert first["event"] == "connected" and first["streams"] == 3
    assert first["level"] == "info" and first["logger"] == "bot.ingest"
    assert first["timestamp"].endswith("Z") and "T" in first["timestamp"]
    assert second == {
        **second,
        "event": "from the standard library",
        "level": "warning",
        "logger": "aiohttp.access",
    }


def test_level_filters_both_structlog_and_standard_library(output: io.StringIO) -> None:
    configure_logging("WARNING", "console", output)
    get_logger("bot").info("hidden")
    logging.getLogger("other").info("hidden too")
    get_logger("bot").warning("shown")
    text = output.getvalue()
    assert "hidden" not in text and "shown" in text
    assert "\x1b[" not in text  # no colour codes when the stream is not a terminal


def test_reconfiguring_replaces_our_handler_only(output: io.StringIO) -> None:
    configure_logging("INFO", "console", output)
    configure_logging("INFO", "json", output)
    ours = [h for h in logging.getLogger().handlers if h.get_name() == "tradebot"]
    assert len(ours) == 1
    get_logger("bot").info("once")
    assert output.getvalue().count("once") == 1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown log format"):
        configure_logging("INFO", "xml")
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("LOUD", "json")
