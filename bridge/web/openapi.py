"""The problem answers of each operation, declared once per view and written into its OpenAPI docstring.

A view says which errors it can answer (`@problems(401, 404, 422, UPSTREAM)`);
this module turns them into the operation's `responses` entries, each a
reference to the shared problem-details responses in :mod:`bridge.web.docs`.
So the twenty-odd views do not repeat the same YAML lines, and a status code
always points at the same description.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

View = TypeVar("View", bound=Callable[..., object])

UPSTREAM = (502, 503, 504)
"""Fabman failing, unavailable or timing out."""

_SHARED = {
    400: "BadRequest",
    401: "Unauthorized",
    404: "NotFound",
    409: "StillActive",
    413: "TooLarge",
    422: "Invalid",
    502: "Upstream",
    503: "Upstream",
    504: "Upstream",
}


def problems(*codes: int | tuple[int, ...], not_configured: bool = False, job: bool = False) -> Callable[[View], View]:
    """Append the operation's problem responses to its docstring; `not_configured`: 503 means a secret is unset;
    `job`: the operation runs a job, and 409 means the job is running elsewhere."""
    given = {code for item in codes for code in (item if isinstance(item, tuple) else (item,))}
    flat = sorted((given | {503} if not_configured else given) | ({409} if job else set()))
    unknown = [code for code in flat if code not in _SHARED]
    if unknown:
        raise ValueError(f"no shared problem response for {unknown}")

    def document(view: View) -> View:
        doc = (view.__doc__ or "").rstrip()
        if not _responses_is_last(doc):
            raise ValueError(f"{view.__name__}: `responses:` must be the last key of the OpenAPI docstring")
        lines = [f"      {code}: {{$ref: '#/components/responses/{_name(code, not_configured, job)}'}}" for code in flat]
        view.__doc__ = doc + "\n" + "\n".join(lines) + "\n"
        return view

    return document


def _name(code: int, not_configured: bool, job: bool = False) -> str:
    if code == 409 and job:
        return "JobRunning"
    return "NotConfigured" if code == 503 and not_configured else _SHARED[code]


def _responses_is_last(doc: str) -> bool:
    """The docstring's last four-space key is `responses:` (its entries are indented further)."""
    keys = [line for line in doc.splitlines() if line.startswith("    ") and line[4:5].isalpha()]
    return bool(keys) and keys[-1].strip().startswith("responses:")
