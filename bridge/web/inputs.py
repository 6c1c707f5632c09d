"""Reading request input strictly: a clear 400/422 naming the field, never a 500."""

from __future__ import annotations

from typing import Any

from flask import request

from bridge.errors import BadRequest, ValidationFailed

MAX_ID = 2**31 - 1


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


def flag(name: str) -> bool:
    """A boolean query parameter (true/1/yes/on); 422 for anything else but absent."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return False
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValidationFailed(f"query parameter '{name}' must be true or false", field=name)
