"""Where settings values come from: the YAML file, then the environment on top.

The loader merges sources itself instead of using pydantic-settings' sources because an error must
name the exact place a bad value came from (file, or which TRADEBOT_ variable), the environment must
be injectable for tests, secrets may come from a file named by a *_FILE variable, and a misspelt
TRADEBOT_ variable must be an error rather than silently ignored.
"""

from __future__ import annotations

import difflib
import json
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from bot.config.errors import ConfigError, ConfigProblem, ProblemKind
from bot.config.schema import (
    ENVIRONMENT_PREFIX,
    NESTED_DELIMITER,
    SECRET_FILE_SUFFIX,
    dotted_key,
    environment_name,
    is_optional,
    is_secret,
    item_model,
    section_model,
    takes_json,
    union_members,
)

# TRADEBOT_ variables that are read before the settings exist and are therefore not settings keys.
NON_SETTINGS_VARIABLES = frozenset({"TRADEBOT_CONFIG"})

_NONE_SPELLINGS = frozenset({"", "null", "none"})


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: PyYAML would silently keep the last one."""


def _construct_mapping_without_duplicates(
    loader: _StrictLoader, node: yaml.MappingNode
) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (str, int, float, bool)) and key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    mapping: dict[Any, Any] = loader.construct_mapping(node, deep=True)
    return mapping


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping_without_duplicates
)


def read_settings_file(path: Path) -> dict[str, Any]:
    """The file's top-level mapping, or ConfigError naming the file (and line/column for syntax)."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _file_error(source, "file not found") from None
    except IsADirectoryError:
        raise _file_error(source, "is a directory, not a settings file") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise _file_error(source, f"cannot read: {reason}") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as error:
        raise _file_error(source, _describe_yaml_error(error)) from None
    except yaml.YAMLError as error:
        raise _file_error(source, f"invalid YAML: {error}") from None
    if data is None:
        return {}  # an empty file (or only comments) means "all defaults"
    if not isinstance(data, dict):
        raise _file_error(
            source, f"the top level must be a mapping of sections, got {_kind_of(data)}"
        )
    return data


def _describe_yaml_error(error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    problem = error.problem or error.context or "invalid YAML"
    if mark is None:
        return f"invalid YAML: {problem}"
    return f"line {mark.line + 1}, column {mark.column + 1}: invalid YAML: {problem}"


def _kind_of(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    return f"{type(value).__name__} {value!r}"


def _file_error(source: str, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(source, None, message, ProblemKind.FILE)])


def take_secrets_out_of_file(
    data: dict[str, Any], model: type[BaseModel], source: str
) -> list[ConfigProblem]:
    """Remove every secret-valued key from file data (in place) and report each one.

    Removing them keeps the secret's value out of any later validation message about that key.
    """
    problems: list[ConfigProblem] = []
    _take_secrets(data, model, (), source, problems)
    return problems


def _take_secrets(
    data: dict[Any, Any],
    model: type[BaseModel],
    path: tuple[str | int, ...],
    source: str,
    problems: list[ConfigProblem],
) -> None:
    for key in list(data):
        if not isinstance(key, str):
            continue
        secret_name = _secret_field_name(model, key)
        if secret_name is not None:
            del data[key]
            secret_path = (*path, secret_name)
            hint = _secret_hint(secret_path) if all(isinstance(p, str) for p in secret_path) else ""
            problems.append(
                ConfigProblem(
                    source,
                    dotted_key((*path, key)),
                    f"secrets come from the environment{hint}",
                    ProblemKind.SECRET_IN_FILE,
                )
            )
            continue
        field_info = model.model_fields.get(key)
        if field_info is None:
            continue
        value = data[key]
        nested = section_model(field_info.annotation)
        if nested is not None and isinstance(value, dict):
            _take_secrets(value, nested, (*path, key), source, problems)
        items = item_model(field_info.annotation)
        if items is not None and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    _take_secrets(item, items, (*path, key, index), source, problems)


def _secret_field_name(model: type[BaseModel], key: str) -> str | None:
    """The secret field `key` names: the field itself, or its *_file form (also not for files)."""
    field_info = model.model_fields.get(key)
    if field_info is not None:
        return key if is_secret(field_info.annotation) else None
    if key.endswith(SECRET_FILE_SUFFIX):
        base = key[: -len(SECRET_FILE_SUFFIX)]
        base_info = model.model_fields.get(base)
        if base_info is not None and is_secret(base_info.annotation):
            return base
    return None


def _secret_hint(path: tuple[str | int, ...]) -> str:
    name = environment_name(path)
    return f" (set {name} or {name}{SECRET_FILE_SUFFIX.upper()})"


@dataclass
class EnvironmentOverrides:
    # dotted path (as a tuple) -> the variable that set it, to name it when its value is invalid
    origins: dict[tuple[str, ...], str] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)


def apply_environment(
    data: dict[str, Any], environ: Mapping[str, str], model: type[BaseModel]
) -> EnvironmentOverrides:
    """Write TRADEBOT_* variables over the file data (in place); env beats file beats default."""
    overrides = EnvironmentOverrides()
    names = [
        name
        for name in environ
        if name.startswith(ENVIRONMENT_PREFIX) and name not in NON_SETTINGS_VARIABLES
    ]
    # Whole sections first (TRADEBOT_REDIS='{...}'), so a deeper variable can still override a key.
    names.sort(key=lambda name: (name.count(NESTED_DELIMITER), name))
    for name in names:
        _apply_variable(name, environ[name], data, model, overrides)
    return overrides


def _apply_variable(
    name: str,
    raw: str,
    data: dict[str, Any],
    model: type[BaseModel],
    overrides: EnvironmentOverrides,
) -> None:
    source = f"environment {name}"
    segments = name[len(ENVIRONMENT_PREFIX) :].split(NESTED_DELIMITER)
    path: list[str] = []
    for position, segment in enumerate(segments):
        key = segment.lower()
        is_last = position == len(segments) - 1
        field_info = model.model_fields.get(key)
        from_secret_file = False
        if field_info is None and is_last and key.endswith(SECRET_FILE_SUFFIX):
            base = key[: -len(SECRET_FILE_SUFFIX)]
            base_info = model.model_fields.get(base)
            if base_info is not None and is_secret(base_info.annotation):
                key, field_info, from_secret_file = base, base_info, True
        if field_info is None:
            overrides.problems.append(
                ConfigProblem(
                    source,
                    dotted_key((*path, key)),
                    "unknown key" + suggest(key, model.model_fields),
                    ProblemKind.UNKNOWN_KEY,
                )
            )
            return
        path.append(key)
        if not is_last:
            nested = section_model(field_info.annotation)
            if nested is None:
                # Mappings and lists are set whole: a variable name cannot carry "aggTrade"'s case.
                rest = [segment.lower() for segment in segments[position + 1 :]]
                overrides.problems.append(
                    ConfigProblem(
                        source,
                        dotted_key((*path, *rest)),
                        f"cannot be set on its own; set {environment_name(path)} to JSON instead",
                        ProblemKind.UNKNOWN_KEY,
                    )
                )
                return
            model = nested
            continue
        _set_leaf(
            source, tuple(path), raw, field_info.annotation, from_secret_file, data, overrides
        )


def _set_leaf(
    source: str,
    path: tuple[str, ...],
    raw: str,
    annotation: Any,
    from_secret_file: bool,
    data: dict[str, Any],
    overrides: EnvironmentOverrides,
) -> None:
    key = dotted_key(path)
    if path in overrides.origins:
        first = overrides.origins[path]
        overrides.problems.append(
            ConfigProblem(source, key, f"also set by {first}: set only one of them")
        )
        return
    if from_secret_file:
        try:
            value: Any = _read_secret_file(raw)
        except _SecretFileError as error:
            overrides.problems.append(ConfigProblem(source, key, str(error)))
            return
    elif takes_json(annotation):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            example = '{"key": "value"}' if _wants_mapping(annotation) else '["BTCUSDT", "ETHUSDT"]'
            shown = "" if is_secret(annotation) else f", got {raw[:60]!r}"
            overrides.problems.append(
                ConfigProblem(source, key, f"expected JSON such as '{example}'{shown}")
            )
            return
    elif is_optional(annotation) and raw.strip().lower() in _NONE_SPELLINGS:
        value = None
    else:
        value = raw
    overrides.origins[path] = source.removeprefix("environment ")
    _set_nested(data, path, value)


def _wants_mapping(annotation: Any) -> bool:
    return any(
        section_model(member) is not None or member is dict or typing.get_origin(member) is dict
        for member in union_members(annotation)
    )


class _SecretFileError(Exception):
    pass


def _read_secret_file(file_name: str) -> str:
    path = Path(file_name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _SecretFileError(f"secret file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise _SecretFileError(f"cannot read secret file {path}: {reason}") from None
    # Secret files from Docker/Kubernetes/editors usually end in a newline that is not the secret.
    secret = text.strip()
    if not secret:
        raise _SecretFileError(f"secret file is empty: {path}")
    return secret


def _set_nested(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for segment in path[:-1]:
        child = data.get(segment)
        if not isinstance(child, dict):
            child = {}
            data[segment] = child
        data = child
    data[path[-1]] = value


def suggest(key: str, candidates: Iterable[str]) -> str:
    matches = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""
