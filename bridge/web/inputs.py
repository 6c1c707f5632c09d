"""Reading request input strictly: a clear 400/422 naming the field, never a 500.

Query parameters are held to the same standard as bodies: a value the bridge
cannot read is refused with a 400 naming the parameter, never taken for a
default. A lenient reading of `?dry_run=` as "no" would turn a typo into a
real expiry sweep that deletes trainings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from flask import request

from bridge.config import FALSE_WORDS, TRUE_WORDS
from bridge.domain.models import MAX_ID
from bridge.errors import BadRequest, ValidationFailed


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
