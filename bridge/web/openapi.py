"""Each operation's OpenAPI, declared by small decorators over the view and handed to flasgger.

A view says what it takes and what it answers, with types::

    @blueprint.get("/available_trainings/<int:member_id>")
    @require_api_key
    @operation("profile", params=[MEMBER_ID])
    @answers(200, list[AvailableTraining], "The courses on offer, sorted by title.")
    @problems(401, 404, UPSTREAM)
    def available_trainings(member_id: int) -> Response:
        \"\"\"Online courses the member may take now, with personal quiz links.

        Every active online course the member holds no active training for, ...
        \"\"\"

The docstring's first line is the summary and the paragraphs after it the
description; the decorators add tags, security, parameters, the request body,
the answers (each a `$ref` to its type's component, generated from the type by
:func:`bridge.answers.schema_of`) and the problem answers (references to the
shared problem-details responses of :mod:`bridge.web.docs`). The result is the
operation flasgger serves, set as `specs_dict` (what `flasgger.swag_from` sets);
flasgger's own docstring parsing is off for these views (`swag_paths` is
empty), so a docstring is prose and never YAML. :func:`components` collects
the types every view uses, for the document's `components`.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from flask import Flask, Response, jsonify

from bridge.answers import schema_of, to_json

View = TypeVar("View", bound=Callable[..., object])

UPSTREAM = (502, 503, 504)
"""Fabman failing, unavailable or timing out."""

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"

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


class Documented(Protocol):
    """A parameter that can say how the document names it (:class:`bridge.web.inputs.Parameter`)."""

    def document(self) -> dict[str, Any]: ...


@dataclass
class Operation:
    """What the decorators of one view declared (kept on the view as `openapi`)."""

    spec: dict[str, Any] = field(default_factory=dict)
    """The operation as flasgger serves it (also the view's `specs_dict`)."""
    schemas: dict[str, type[Any]] = field(default_factory=dict)
    """Answer and body types the operation refers to, by component name."""
    bodies: dict[str, type[Any]] = field(default_factory=dict)
    """Request body types the operation refers to, by component name."""


def declared(view: Callable[..., object]) -> Operation:
    """The view's declarations so far (made on first use): the same object however many decorators wrap the view."""
    found: Operation | None = getattr(view, "openapi", None)
    if found is None:
        found = Operation()
        view.openapi = found  # type: ignore[attr-defined]
        view.specs_dict = found.spec  # type: ignore[attr-defined]
        view.swag_paths = {}  # type: ignore[attr-defined]  # no YAML for flasgger to read: the docstring is prose
    return found


def operation(
    *tags: str, security: str | None = None, params: Iterable[Documented] = (), body: type[Any] | None = None
) -> Callable[[View], View]:
    """Tag the operation, name who may call it (None: anyone, unless an auth decorator says), list its parameters,
    and name its request body type (a shared `requestBodies` component)."""

    def document(view: View) -> View:
        found = declared(view)
        summary, description = _prose(view)
        found.spec["summary"] = summary
        if description:
            found.spec["description"] = description
        found.spec["tags"] = list(tags)
        scheme = security or getattr(view, "security_scheme", None)
        found.spec.setdefault("security", [{scheme: []}] if scheme else [])
        parameters = [parameter.document() for parameter in params]
        if parameters:
            found.spec["parameters"] = parameters
        if body is not None:
            found.spec["requestBody"] = {"$ref": f"#/components/requestBodies/{body.__name__}"}
            found.bodies[body.__name__] = body
            found.schemas[body.__name__] = body
        return view

    return document


def secured(view: Callable[..., object], scheme: str) -> None:
    """Record that the view answers only callers of this security scheme (the auth decorators call it)."""
    view.security_scheme = scheme  # type: ignore[attr-defined]
    found: Operation | None = getattr(view, "openapi", None)
    if found is not None:
        found.spec["security"] = [{scheme: []}]


def answers(
    status: int,
    answer_type: Any,
    description: str,
    *,
    content_type: str = JSON,
    also: Mapping[str, Mapping[str, Any]] | None = None,
) -> Callable[[View], View]:
    """An answer of the operation: `Type` or `list[Type]` of an answer type, under its content type (and `also`
    other content types, as given)."""

    def document(view: View) -> View:
        found = declared(view)
        schema = _reference(answer_type, found)
        content: dict[str, Any] = {
            content_type: {"schema": schema},
            **{name: dict(value) for name, value in (also or {}).items()},
        }
        _respond(found, status, {"description": description, "content": content})
        return view

    return document


def problems(*codes: int | tuple[int, ...], not_configured: bool = False, job: bool = False) -> Callable[[View], View]:
    """The operation's problem answers, each a reference to a shared problem-details response; `not_configured`:
    503 means a secret is unset; `job`: the operation runs a job, and 409 means the job is running elsewhere."""
    given = {code for item in codes for code in (item if isinstance(item, tuple) else (item,))}
    flat = sorted((given | {503} if not_configured else given) | ({409} if job else set()))
    unknown = [code for code in flat if code not in _SHARED]
    if unknown:
        raise ValueError(f"no shared problem response for {unknown}")

    def document(view: View) -> View:
        found = declared(view)
        for code in flat:
            _respond(found, code, {"$ref": f"#/components/responses/{_name(code, not_configured, job)}"})
        return view

    return document


def respond(value: object) -> Response:
    """A view's JSON answer: the value as :func:`bridge.answers.to_json` writes it (the rules its schema follows)."""
    return jsonify(to_json(value))


def components(app: Flask) -> tuple[dict[str, type[Any]], dict[str, type[Any]]]:
    """Every answer type and every request body type the app's views refer to, by component name."""
    schemas: dict[str, type[Any]] = {}
    bodies: dict[str, type[Any]] = {}
    for view in app.view_functions.values():
        found: Operation | None = getattr(view, "openapi", None)
        if found is None:
            continue
        if "summary" not in found.spec:
            raise ValueError(f"{view.__name__}: documented without @operation (its summary, tags and security)")
        for name, kind in found.schemas.items():
            if schemas.setdefault(name, kind) is not kind:
                raise ValueError(f"two answer types are called {name}")
        bodies.update(found.bodies)
    return dict(sorted(schemas.items())), dict(sorted(bodies.items()))


def schemas_of(types: Mapping[str, type[Any]]) -> dict[str, dict[str, Any]]:
    """The components of these types."""
    return {name: schema_of(kind) for name, kind in types.items()}


def _reference(answer_type: Any, found: Operation) -> dict[str, Any]:
    if typing.get_origin(answer_type) is list:
        (item,) = typing.get_args(answer_type)
        return {"type": "array", "items": _reference(item, found)}
    found.schemas[answer_type.__name__] = answer_type
    return {"$ref": f"#/components/schemas/{answer_type.__name__}"}


def _respond(found: Operation, status: int, response: dict[str, Any]) -> None:
    responses = found.spec.setdefault("responses", {})
    key = str(status)
    if key in responses:
        raise ValueError(f"status {status} is declared twice")
    responses[key] = response
    found.spec["responses"] = dict(sorted(responses.items()))


def _name(code: int, not_configured: bool, job: bool = False) -> str:
    if code == 409 and job:
        return "JobRunning"
    return "NotConfigured" if code == 503 and not_configured else _SHARED[code]


def _prose(view: Callable[..., object]) -> tuple[str, str]:
    """The summary (the docstring's first line) and the description (its paragraphs, each on one line)."""
    doc = inspect.getdoc(view) or ""
    if not doc.strip():
        raise ValueError(f"{getattr(view, '__name__', view)}: an operation needs a docstring (its summary)")
    summary, _, rest = doc.partition("\n")
    paragraphs = [" ".join(line.strip() for line in block.splitlines()) for block in rest.strip().split("\n\n") if block.strip()]
    return summary.strip(), "\n\n".join(paragraphs) + "\n" if paragraphs else ""
