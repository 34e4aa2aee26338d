"""Logging: structlog for our code, the standard library routed through the same renderer.

Secrets must never reach a log line, so they are removed twice:
  1. in the event dict, by key name (api_key=..., headers={"Authorization": ...}), SecretStr values,
     and known secret values inside any string (an exception message, a URL with a signature);
  2. in the final rendered text, by known secret values again, which catches what the first pass
     cannot see: tracebacks, reprs of arbitrary objects, records from third-party libraries.
Known values are those given to `register_secret` at start-up (see bot.config.secret_values).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal, TextIO
from urllib.parse import quote

import structlog
from pydantic import SecretBytes, SecretStr

REDACTED = "***"

# Matched anywhere in a key, case-insensitively: "X-MBX-APIKEY", "telegram_bot_token", "password".
SECRET_KEY_PATTERN = re.compile(
    r"api[_-]?key|api[_-]?secret|secret|token|passw(or)?d|authorization|signature", re.IGNORECASE
)

# "signature=...", "apiKey: ..." in free text (URLs, request dumps): unknown values, known names.
_SECRET_PARAMETER_PATTERN = re.compile(
    r"(?P<name>\b(?:signature|api[_-]?key|api[_-]?secret|token|password|secret)\b[\"']?\s*[=:]\s*[\"']?)"
    r"(?!\*\*\*)[^&\s\"',;}]+",
    re.IGNORECASE,
)

# Masking a 1-3 character "secret" would garble every line and protect nothing.
MINIMUM_SECRET_LENGTH = 4

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["auto", "console", "json"]


class _SecretValues:
    """The registered secret values and one regular expression that finds any of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        # The same secret also appears percent-encoded in URLs and escaped in JSON.
        variants = {value, quote(value, safe=""), json.dumps(value)[1:-1]}
        with self._lock:
            self._values |= {
                variant for variant in variants if len(variant) >= MINIMUM_SECRET_LENGTH
            }
            # Longest first, so a secret that contains another is masked whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def mask(self, text: str) -> str:
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        # A named parameter needs "=" or ":"; most values (ids, kinds, messages) have neither, and
        # two substring tests in C cost far less than running the pattern over them.
        if "=" not in text and ":" not in text:
            return text
        return _SECRET_PARAMETER_PATTERN.sub(rf"\g<name>{REDACTED}", text)


_SECRETS = _SecretValues()


def register_secret(value: str | SecretStr | SecretBytes | bytes | None) -> None:
    """Mask this value wherever it appears in any later log output. None and "" are ignored."""
    if isinstance(value, (SecretStr, SecretBytes)):
        value = value.get_secret_value()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if value and len(value) >= MINIMUM_SECRET_LENGTH:
        _SECRETS.add(value)


def clear_registered_secrets() -> None:
    """For tests: forget every registered value."""
    _SECRETS.clear()


def redact_text(text: str) -> str:
    return _SECRETS.mask(text)


def redact_value(value: Any, *, _depth: int = 0) -> Any:
    """A copy of `value` with secret-named keys, SecretStr and registered values masked."""
    if _depth > 20:  # a self-referencing structure must not hang the logger
        return value
    if isinstance(value, str):
        return _SECRETS.mask(value)
    if isinstance(value, (SecretStr, SecretBytes)):
        return REDACTED
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and SECRET_KEY_PATTERN.search(key)
            else redact_value(item, _depth=_depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(redact_value(item, _depth=_depth + 1) for item in value)
    return value


def redact_secrets(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: see redact_value."""
    for key, value in list(event_dict.items()):
        if SECRET_KEY_PATTERN.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact_value(value)
    return event_dict


def _redact_unless_redacted(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The formatter's pass: the structlog chain already redacted our own event dicts (once is
    enough, and a log line costs about a third less), unless a traceback was rendered into them
    since. Records from the standard library arrive here unredacted."""
    if event_dict.get("_from_structlog") and "exception" not in event_dict:
        return event_dict
    return redact_secrets(logger, method_name, event_dict)


class _RedactingFormatter(structlog.stdlib.ProcessorFormatter):
    """Masks registered secret values in the finished line, tracebacks included."""

    def format(self, record: logging.LogRecord) -> str:
        return _SECRETS.mask(super().format(record))


_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
]


def configure_logging(
    level: LogLevel | str = "INFO",
    format: LogFormat | str = "console",
    stream: TextIO | None = None,
) -> None:
    """Route structlog and the standard library to `stream` (default stderr). Safe to call again."""
    if format not in ("auto", "console", "json"):
        raise ValueError(f"unknown log format {format!r}: expected 'auto', 'console' or 'json'")
    stream = sys.stderr if stream is None else stream
    if format == "auto":
        # People read a terminal; everything else (files, pipes, log collectors) gets JSON lines.
        format = "console" if stream.isatty() else "json"
    numeric_level = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric_level, int):
        raise ValueError(f"unknown log level {level!r}")

    if format == "json":
        # Tracebacks become a string *before* redaction, so registered values inside them are
        # masked before JSON escaping could change how they look.
        renderer_chain: list[Any] = [
            structlog.processors.format_exc_info,
            _redact_unless_redacted,
            structlog.processors.JSONRenderer(sort_keys=False),
        ]
    else:
        renderer_chain = [
            _redact_unless_redacted,
            structlog.dev.ConsoleRenderer(
                colors=_is_terminal(stream),
                # Locals in tracebacks would print secrets held in variables; keep them out.
                exception_formatter=_exception_formatter(stream),
            ),
        ]
    formatter = _RedactingFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        # remove_processors_meta last: until then `_from_structlog` tells our own event dicts apart.
        processors=[*renderer_chain[:-1], structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer_chain[-1]],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.set_name("tradebot")

    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "tradebot":  # ours from an earlier call; leave others (pytest's)
            root.removeHandler(existing)
            existing.close()
    root.addHandler(handler)
    root.setLevel(numeric_level)
    logging.captureWarnings(True)
    # The websockets library logs every connection opened and closed at INFO; our own lines say
    # what matters about connections, so keep its chatter for debugging sessions.
    for chatty in ("websockets.server", "websockets.client"):
        logging.getLogger(chatty).setLevel(max(numeric_level, logging.WARNING))

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            # Also here, not only in our formatter: any other handler on the root logger (pytest's
            # capture, a library's) receives this event dict as it leaves this chain.
            redact_secrets,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # No caching: a logger used before configure_logging() would otherwise keep structlog's
        # default chain for ever, and with it no redaction.
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)


def _exception_formatter(stream: TextIO) -> Any:
    if not _is_terminal(stream):
        return structlog.dev.plain_traceback  # colour codes are noise in a file or a journal
    # Locals in tracebacks would print secrets held in variables; keep them out.
    return structlog.dev.RichTracebackFormatter(show_locals=False)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
