"""Strategy configuration errors that name the strategy, the parameter and the reason.

Operators write strategy parameters in YAML; "strategy sma_cross: parameter fast_period: must be
less than slow_period (got 50 >= 20)" tells them what to change without a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError


class StrategyConfigError(ValueError):
    """A strategy could not be built from its name and parameters. `problems` holds
    (parameter, reason) pairs; parameter is "" for a problem with the name itself."""

    def __init__(self, strategy: str, problems: list[tuple[str, str]]) -> None:
        self.strategy = strategy
        self.problems = problems
        super().__init__("; ".join(_line(strategy, parameter, reason) for parameter, reason in problems))


def _line(strategy: str, parameter: str, reason: str) -> str:
    if not parameter:
        return reason
    return f"strategy {strategy}: parameter {parameter}: {reason}"


class ParameterError(ValueError):
    """Raised inside a config validator that checks several fields at once, so the error names
    the parameter to change rather than the model (pydantic's model validators have no field)."""

    def __init__(self, parameter: str, reason: str) -> None:
        self.parameter = parameter
        self.reason = reason
        super().__init__(reason)


_BOUNDS = {
    "greater_than": ("gt", "must be greater than"),
    "greater_than_equal": ("ge", "must be at least"),
    "less_than": ("lt", "must be less than"),
    "less_than_equal": ("le", "must be at most"),
}
_EXPECTATIONS = {
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "finite_number": "expected a finite number",
    "string_type": "expected text",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
}


def problems_from(error: ValidationError, allowed: list[str]) -> list[tuple[str, str]]:
    return [_problem(detail, allowed) for detail in error.errors(include_url=False)]


def _problem(detail: Mapping[str, Any], allowed: list[str]) -> tuple[str, str]:
    parameter = ".".join(str(part) for part in detail["loc"])
    kind = detail["type"]
    context = detail.get("ctx") or {}
    cause = context.get("error")
    if isinstance(cause, ParameterError):
        return cause.parameter, cause.reason
    if kind == "extra_forbidden":
        return parameter, f"unknown parameter (allowed: {', '.join(allowed)})"
    if kind == "missing":
        return parameter, "required, but not given"
    if kind == "value_error" and cause is not None:
        return parameter, str(cause)  # our validators' messages already show the value
    if kind in _BOUNDS:
        name, phrase = _BOUNDS[kind]
        bound = context.get(name)
        reason = f"{phrase} {bound:g}" if isinstance(bound, float) else f"{phrase} {bound}"
    else:
        reason = _EXPECTATIONS.get(kind) or str(detail["msg"])
    return parameter, f"{reason} (got {detail.get('input')!r})"
