"""Answers: the typed values use cases return, written as JSON and described as JSON Schema by one set of rules.

A use case returns an :func:`answer` class (a frozen, keyword-only
dataclass) declared beside it. Each field says once what it is: its type
(`int`, `str | None`, `dt.date`, an enum, a list, another answer), and
through :func:`described` its example and description. From that one
declaration come

- the JSON the bridge writes (:func:`to_json`): fields in declared order,
  dates and moments as ISO 8601, enums as their values, nested answers as
  objects; a field marked `omit_none` is left out while it is None, and a
  `spread` mapping writes its entries into the enclosing object as
  `<field>_<key>`;
- the JSON Schema of the OpenAPI document (:func:`schema_of`): required are
  the fields without a default (and not left out when None), `X | None` is
  nullable, and the example is the fields' examples written by the same
  :func:`to_json`.

So adding a field to an answer is one edit, and the answer, its schema and
its example cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")

NO_EXAMPLE: Any = object()
"""A field declared without an example (its type then has no example in the document)."""

_JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean"}
_FORMATS = {dt.datetime: "date-time", dt.date: "date"}


def described(
    example: Any = NO_EXAMPLE,
    description: str | None = None,
    *,
    default: Any = dataclasses.MISSING,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
    enum: Any = None,
    omit_none: bool = False,
    spread: bool = False,
    schema: Mapping[str, Any] | None = None,
) -> Any:
    """One field of an answer: its example and description, and how it is written.

    `enum` narrows a string field to these values in the document;
    `omit_none` leaves the field out while it is None (so it is neither
    required nor nullable); `spread` writes a mapping's entries into the
    enclosing object, each key prefixed with the field's name; `schema`
    replaces the schema derived from the type (for what a type cannot say,
    such as "an integer or a digit string").
    """
    metadata = {
        "example": example,
        "description": description,
        "enum": [str(value) for value in enum] if enum is not None else None,
        "omit_none": omit_none,
        "spread": spread,
        "schema": dict(schema) if schema is not None else None,
    }
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(described, dataclasses.field))
def answer(cls: type[T]) -> type[T]:
    """Declare a class as an answer: a frozen, keyword-only dataclass that :func:`to_json` writes."""
    return dataclasses.dataclass(frozen=True, kw_only=True)(cls)


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(described, dataclasses.field))
def request_body(cls: type[T]) -> type[T]:
    """Declare a request body: described like an answer (its schema comes from :func:`schema_of`), read by a view."""
    return dataclasses.dataclass(frozen=True, kw_only=True)(cls)


# -- writing ---------------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """A value as JSON data (dicts, lists, strings, numbers, booleans, None), by the rules above."""
    if value is None or isinstance(value, bool | int | float) and not isinstance(value, enum.Enum):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dt.date):  # a datetime is a date too
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _object(value)
    if isinstance(value, Mapping):
        return {str(to_json(key)): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    raise TypeError(f"no JSON form for {type(value).__name__}")


def json_object(value: Any) -> dict[str, Any]:
    """An answer as a JSON object (what the job runner records as a run's summary)."""
    written = to_json(value)
    if not isinstance(written, dict):
        raise TypeError(f"{type(value).__name__} is not written as a JSON object")
    return written


def _object(value: Any) -> dict[str, Any]:
    written: dict[str, Any] = {}
    for item in dataclasses.fields(value):
        field_value = getattr(value, item.name)
        if item.metadata.get("spread"):
            written.update({f"{item.name}_{to_json(key)}": to_json(entry) for key, entry in field_value.items()})
        elif field_value is not None or not item.metadata.get("omit_none"):
            written[item.name] = to_json(field_value)
    return written


# -- describing ------------------------------------------------------------------------------


def schema_of(answer_type: type[Any], *, example: bool = True) -> dict[str, Any]:
    """The OpenAPI 3.0 schema of an answer type (with its example when every field has one)."""
    hints = typing.get_type_hints(answer_type)
    properties: dict[str, Any] = {}
    required = []
    extra: dict[str, Any] | None = None
    for item in dataclasses.fields(answer_type):
        metadata = item.metadata
        hint = hints[item.name]
        if metadata.get("spread"):
            extra = _field_schema(typing.get_args(hint)[1], metadata, omitted=True)
            continue
        properties[item.name] = _field_schema(hint, metadata, omitted=bool(metadata.get("omit_none")))
        if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING and not metadata.get("omit_none"):
            required.append(item.name)
    schema: dict[str, Any] = {"type": "object", **({"required": required} if required else {}), "properties": properties}
    if extra is not None:
        schema["additionalProperties"] = extra
    if answer_type.__doc__ and not answer_type.__doc__.startswith(f"{answer_type.__name__}("):
        schema["description"] = " ".join(inspect.cleandoc(answer_type.__doc__).split("\n\n")[0].split())
    if example:
        found = example_of(answer_type)
        if found is not NO_EXAMPLE:
            schema["example"] = to_json(found)
    return schema


def example_of(answer_type: type[Any]) -> Any:
    """An instance of the type built from its fields' examples (NO_EXAMPLE when a field has none)."""
    values = {}
    hints = typing.get_type_hints(answer_type)
    for item in dataclasses.fields(answer_type):
        given = item.metadata.get("example", NO_EXAMPLE)
        if given is NO_EXAMPLE:
            nested = _answer_in(hints[item.name])
            given = example_of(nested) if nested is not None else NO_EXAMPLE
        if given is NO_EXAMPLE:
            return NO_EXAMPLE
        values[item.name] = given
    return answer_type(**values)


def _answer_in(hint: Any) -> type[Any] | None:
    """The answer type a field holds directly (`X` or `X | None`), if any."""
    members = [arg for arg in typing.get_args(hint) if arg is not type(None)] if _is_union(hint) else [hint]
    if len(members) == 1 and dataclasses.is_dataclass(members[0]) and isinstance(members[0], type):
        return members[0]
    return None


def _field_schema(hint: Any, metadata: Mapping[str, Any], *, omitted: bool) -> dict[str, Any]:
    schema = dict(metadata["schema"]) if metadata.get("schema") else json_type(hint, nullable=not omitted)
    if metadata.get("description"):
        schema["description"] = metadata["description"]
    if metadata.get("enum"):
        schema["enum"] = metadata["enum"]
    return schema


def _is_union(hint: Any) -> bool:
    return isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union


def json_type(hint: Any, *, nullable: bool = True) -> dict[str, Any]:
    """The schema of one Python type as :func:`to_json` writes it (nested answers inline, without their example)."""
    if _is_union(hint):
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        optional = len(members) < len(typing.get_args(hint))
        if all(isinstance(member, type) and issubclass(member, enum.Enum) for member in members):
            schema = {"type": "string", "enum": [str(value.value) for member in members for value in member]}
        elif len(members) == 1:
            schema = json_type(members[0])
        else:
            raise TypeError(f"only `X | None` and unions of enums are supported, not {hint}")
        return {**schema, "nullable": True} if optional and nullable else schema
    if hint is Any:
        return {}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"type": "string", "enum": [str(value.value) for value in hint]}
    if hint in _JSON_TYPES:
        return {"type": _JSON_TYPES[hint]}
    if hint in _FORMATS:
        return {"type": "string", "format": _FORMATS[hint]}
    origin = typing.get_origin(hint)
    if origin in (dict, Mapping):
        _, values = typing.get_args(hint)
        return {"type": "object"} if values is Any else {"type": "object", "additionalProperties": json_type(values)}
    if origin in (list, tuple):
        item, *rest = typing.get_args(hint)
        if origin is tuple and rest != [Ellipsis]:
            raise TypeError(f"only `tuple[X, ...]` is supported, not {hint}")
        return {"type": "array", "items": json_type(item)}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        nested = schema_of(hint, example=False)
        nested.pop("description", None)
        return nested
    raise TypeError(f"no JSON type for {hint}")
