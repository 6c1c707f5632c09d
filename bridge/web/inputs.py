"""Reading request input strictly: a clear 400/422 naming the field, never a 500.

Query parameters are held to the same standard as bodies: a value the bridge
cannot read is refused with a 400 naming the parameter, never taken for a
default. A lenient reading of `?dry_run=` as "no" would turn a typo into a
real expiry sweep that deletes trainings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import request

from bridge.answers import described, request_body
from bridge.config import FALSE_WORDS, TRUE_WORDS
from bridge.domain.models import MAX_ID
from bridge.errors import BadRequest, ValidationFailed

BODY_ID = {"oneOf": [{"type": "integer", "minimum": 1, "maximum": MAX_ID}, {"type": "string", "pattern": "^0*[1-9][0-9]{0,8}$"}]}
"""An id in a JSON body: a positive 32-bit integer, or the same as a digit string (:func:`positive_id`)."""


@request_body
class MemberCourse:
    """A member and one training course, as integers or digit strings."""

    member_id: int = described(1, schema=BODY_ID)
    training_id: int = described(2, "Training course id.", schema=BODY_ID)


def member_course() -> MemberCourse:
    """The body of the operations about one member's course; 400/422 naming the field at fault."""
    body = json_object()
    return MemberCourse(member_id=positive_id(body, "member_id"), training_id=positive_id(body, "training_id"))


def json_object() -> dict[str, Any]:
    """The request body as a JSON object; 400 when it is anything else."""
    try:
        body = request.get_json(silent=True, force=True)
    except RecursionError:  # nesting too deep to parse: not an object we can read
        body = None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def positive_id(body: dict[str, Any], name: str) -> int:
    """An id field given as an integer or a digit string; 400 when missing, 422 when invalid."""
    if name not in body or body[name] is None or body[name] == "":
        raise BadRequest(f"field '{name}' is required", field=name)
    value = body[name]
    if isinstance(value, bool):
        raise ValidationFailed(f"field '{name}' must be a positive integer", field=name)
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        value = int(value.strip())
    if not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise ValidationFailed(f"field '{name}' must be a positive integer", field=name)
    return value


def _query_value(name: str) -> str | None:
    """The one value of a query parameter (None when absent); 400 when it is given more than once."""
    values = request.args.getlist(name)
    if len(values) > 1:
        raise BadRequest(f"query parameter '{name}' is given more than once", field=name)
    return values[0] if values else None


def flag(name: str) -> bool:
    """A boolean query parameter: False when absent; 400 naming it when empty or unreadable.

    Accepts the words the configuration accepts (1/0, true/false, yes/no,
    on/off, any case). `?dry_run=` is refused rather than read as false.
    """
    raw = _query_value(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    problem = "is empty" if not value else "is not a boolean"
    raise BadRequest(f"query parameter '{name}' {problem}; use one of 1/0, true/false, yes/no, on/off", field=name)


def choice(name: str, allowed: Iterable[str]) -> str | None:
    """An enum query parameter: None when absent; 400 naming it and the allowed values when empty or outside them."""
    options = tuple(allowed)
    raw = _query_value(name)
    if raw is None:
        return None
    if raw not in options:
        raise BadRequest(f"query parameter '{name}' must be one of {', '.join(options)}", field=name, allowed=list(options))
    return raw


def unix_seconds(name: str) -> int | None:
    """An optional query parameter holding UNIX seconds: None when absent; 400 naming it when not a plain integer."""
    raw = _query_value(name)
    if raw is None:
        return None
    value = raw.strip()
    if not (value.isascii() and value.isdigit()) or int(value) >= 2**33:
        raise BadRequest(f"query parameter '{name}' must be a time in UNIX seconds (e.g. 1763712000)", field=name)
    return int(value)


def _given(name: str) -> str | None:
    """A query parameter's one value, stripped; None when absent; 422 naming it when given empty."""
    raw = _query_value(name)
    if raw is None:
        return None
    value = raw.strip()
    if not value:
        raise ValidationFailed(f"query parameter '{name}' is empty; leave it out to not filter by it", field=name)
    return value


def query_id(name: str) -> int | None:
    """An optional id in the query: None when absent; 422 naming it when empty or not a positive integer.

    `?member_id=` is refused rather than read as "any member": a search
    that silently widens is a wrong answer to "did member X pass".
    """
    value = _given(name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID):
        raise ValidationFailed(f"query parameter '{name}' must be a positive integer up to {MAX_ID}", field=name)
    return int(value)


def query_date(name: str) -> dt.date | None:
    """An optional YYYY-MM-DD date in the query: None when absent; 422 naming it when empty or unreadable."""
    value = _given(name)
    if value is None:
        return None
    if len(value) == 10 and value.isascii():
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValidationFailed(f"query parameter '{name}' must be a date as YYYY-MM-DD", field=name)


def query_int(name: str, *, default: int, low: int, high: int) -> int:
    """An optional integer in the query within [low, high]: the default when absent; 422 naming it otherwise."""
    value = _given(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit() and low <= int(value) <= high):
        raise ValidationFailed(f"query parameter '{name}' must be an integer from {low} to {high}", field=name)
    return int(value)


# -- query and path parameters: read and documented from one declaration ---------------------------


@dataclass(frozen=True)
class Parameter:
    """A path or query parameter as the OpenAPI document names it."""

    name: str
    schema: dict[str, Any]
    where: str = "query"
    required: bool = False
    description: str | None = None

    def document(self) -> dict[str, Any]:
        """The parameter's OpenAPI object."""
        described = {"description": self.description} if self.description else {}
        return {"name": self.name, "in": self.where, "required": self.required, **described, "schema": self.schema}


def path_id(name: str, *, maximum: int | None = MAX_ID) -> Parameter:
    """A positive integer in the path (`<int:name>`), up to `maximum` (None: no upper bound is documented)."""
    bound = {} if maximum is None else {"maximum": maximum}
    return Parameter(name, {"type": "integer", "minimum": 1, **bound}, where="path", required=True)


class Flag(Parameter):
    """A boolean query parameter, False when absent (:func:`flag`)."""

    def __init__(self, name: str) -> None:
        super().__init__(name, {"type": "boolean", "default": False})

    def read(self) -> bool:
        return flag(self.name)


class Choice(Parameter):
    """One of a few words (:func:`choice`); None when absent unless a default is documented."""

    def __init__(self, name: str, options: Iterable[str], *, default: str | None = None) -> None:
        words = [str(option) for option in options]
        super().__init__(name, {"type": "string", "enum": words, **({"default": default} if default else {})})

    def read(self) -> str | None:
        return choice(self.name, self.schema["enum"])


class Bounded(Parameter):
    """An integer within [low, high], `default` when absent (:func:`query_int`)."""

    def __init__(self, name: str, *, default: int, low: int, high: int) -> None:
        super().__init__(name, {"type": "integer", "minimum": low, "maximum": high, "default": default})

    def read(self) -> int:
        schema = self.schema
        return query_int(self.name, default=schema["default"], low=schema["minimum"], high=schema["maximum"])


class QueryId(Parameter):
    """An optional id (:func:`query_id`)."""

    def __init__(self, name: str) -> None:
        super().__init__(name, {"type": "integer", "minimum": 1, "maximum": MAX_ID})

    def read(self) -> int | None:
        return query_id(self.name)


class QueryDate(Parameter):
    """An optional YYYY-MM-DD date (:func:`query_date`)."""

    def __init__(self, name: str) -> None:
        super().__init__(name, {"type": "string", "format": "date"})

    def read(self) -> dt.date | None:
        return query_date(self.name)


class UnixSeconds(Parameter):
    """An optional moment in UNIX seconds (:func:`unix_seconds`)."""

    def __init__(self, name: str, description: str) -> None:
        super().__init__(
            name, {"type": "integer", "minimum": 0, "maximum": 2**33 - 1, "example": 1763712000}, description=description
        )

    def read(self) -> int | None:
        return unix_seconds(self.name)
