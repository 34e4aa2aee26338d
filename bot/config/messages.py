"""Turn pydantic's validation errors into one-line problems an operator can act on.

pydantic says "Input should be a valid number, unable to parse string as a number"; we say
"expected a number, got 'abc'" and put the file (or the environment variable) and the key in front.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.config.errors import ConfigProblem, ProblemKind
from bot.config.schema import dotted_key, environment_name, is_secret_path, model_at
from bot.config.sources import suggest

_EXPECTATIONS = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected text (quote it in YAML)",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping of keys to values",
    "model_type": "expected a mapping of keys to values",
    "model_attributes_type": "expected a mapping of keys to values",
    "path_type": "expected a file or directory path",
    "finite_number": "expected a finite number",
}

_BOUNDS = {
    "greater_than": ("gt", "must be greater than"),
    "greater_than_equal": ("ge", "must be at least"),
    "less_than": ("lt", "must be less than"),
    "less_than_equal": ("le", "must be at most"),
}


def problems_from_validation_error(
    error: ValidationError,
    *,
    file_source: str,
    origins: Mapping[tuple[str, ...], str],
    model: type[BaseModel],
) -> list[ConfigProblem]:
    problems = []
    for detail in error.errors(include_url=False):
        # "[key]" marks a failure of a mapping's key, not its value; the key is named already.
        path = tuple(segment for segment in detail["loc"] if segment != "[key]")
        kind, message = _describe(detail, path, model)
        problems.append(
            ConfigProblem(
                _source_of(path, file_source, origins, model),
                dotted_key(path) or None,
                message,
                kind,
            )
        )
    return problems


def _source_of(
    path: tuple[Any, ...],
    file_source: str,
    origins: Mapping[tuple[str, ...], str],
    model: type[BaseModel],
) -> str:
    # The longest prefix set by a variable: TRADEBOT_INGEST__SYMBOLS explains ingest.symbols[3].
    for length in range(len(path), 0, -1):
        variable = origins.get(path[:length])
        if variable is not None:
            return f"environment {variable}"
    if is_secret_path(model, path):
        return f"environment {environment_name(path)}"  # secrets can only be fixed there
    return file_source


def _describe(
    detail: Mapping[str, Any], path: tuple[Any, ...], model: type[BaseModel]
) -> tuple[ProblemKind, str]:
    error_type = detail["type"]
    context = detail.get("ctx") or {}
    if error_type == "missing":
        return ProblemKind.MISSING, "required, but not set"
    if error_type == "extra_forbidden":
        parent = model_at(model, path[:-1])
        known = parent.model_fields if parent is not None else []
        key = path[-1] if path else ""
        return ProblemKind.UNKNOWN_KEY, "unknown key" + suggest(str(key), known)
    if error_type in ("value_error", "assertion_error"):
        # Our validators write complete sentences that already show the offending value.
        reason = context.get("error")
        return ProblemKind.INVALID_VALUE, str(reason) if reason is not None else detail["msg"]
    if error_type == "literal_error":
        message = f"expected one of {context.get('expected', '')}"
    elif error_type in _BOUNDS:
        name, phrase = _BOUNDS[error_type]
        message = f"{phrase} {_number(context.get(name))}"
    else:
        message = _EXPECTATIONS.get(error_type) or _lower_first(detail["msg"])
    if not is_secret_path(model, path):
        message += f", got {_show(detail.get('input'))}"
    return ProblemKind.INVALID_VALUE, message


def _show(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str) and len(value) > 60:
        return repr(value[:57] + "...")
    return repr(value)


def _number(value: Any) -> str:
    # pydantic reports the bound of PositiveFloat as 0.0; "greater than 0" reads better.
    return f"{value:g}" if isinstance(value, float) else str(value)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
