"""Questions about the shape of the settings models, asked by the loader before validation.

The loader must know which keys are secrets, which take JSON from the environment and which are
sections to descend into, without hard-coding any field: new fields then work with no loader change.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, SecretBytes, SecretStr

ENVIRONMENT_PREFIX = "TRADEBOT_"
NESTED_DELIMITER = "__"
SECRET_FILE_SUFFIX = "_file"

_SECRET_TYPES = (SecretStr, SecretBytes)
_COLLECTION_ORIGINS = (list, tuple, set, frozenset, dict)


def _strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def union_members(annotation: Any) -> tuple[Any, ...]:
    """The non-None members of `X | Y | None`, or (annotation,) when it is not a union."""
    annotation = _strip_annotated(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return tuple(
            _strip_annotated(member)
            for member in typing.get_args(annotation)
            if member is not type(None)
        )
    return (annotation,)


def is_optional(annotation: Any) -> bool:
    annotation = _strip_annotated(annotation)
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(
        None
    ) in typing.get_args(annotation)


def is_secret(annotation: Any) -> bool:
    return any(
        isinstance(member, type) and issubclass(member, _SECRET_TYPES)
        for member in union_members(annotation)
    )


def section_model(annotation: Any) -> type[BaseModel] | None:
    """The model class when the field is itself a section (a model), else None."""
    for member in union_members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def item_model(annotation: Any) -> type[BaseModel] | None:
    """The model class when the field is a list or tuple of models (e.g. a list of alert sinks)."""
    for member in union_members(annotation):
        if typing.get_origin(member) in (list, tuple):
            for argument in typing.get_args(member):
                found = section_model(argument) if argument is not Ellipsis else None
                if found is not None:
                    return found
    return None


def takes_json(annotation: Any) -> bool:
    """Sections, lists and mappings cannot be spelt as plain strings: the environment uses JSON."""
    for member in union_members(annotation):
        if section_model(member) is not None:
            return True
        if member in _COLLECTION_ORIGINS or typing.get_origin(member) in _COLLECTION_ORIGINS:
            return True
    return False


def model_at(model: type[BaseModel], path: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class holding the keys found at `path`; None if the path leaves the models."""
    for segment in path:
        if isinstance(segment, int):
            continue  # an index into a list of models keeps us on the same item model
        field = model.model_fields.get(segment)
        if field is None:
            return None
        found = section_model(field.annotation) or item_model(field.annotation)
        if found is None:
            return None
        model = found
    return model


def is_secret_path(model: type[BaseModel], path: Sequence[str | int]) -> bool:
    if not path or not isinstance(path[-1], str):
        return False
    parent = model_at(model, path[:-1])
    if parent is None:
        return False
    field = parent.model_fields.get(path[-1])
    return field is not None and is_secret(field.annotation)


def environment_name(path: Sequence[str | int]) -> str:
    return ENVIRONMENT_PREFIX + NESTED_DELIMITER.join(str(segment).upper() for segment in path)


def dotted_key(path: Sequence[str | int]) -> str:
    text = ""
    for segment in path:
        if isinstance(segment, int):
            text += f"[{segment}]"
        else:
            text += f".{segment}" if text else str(segment)
    return text
