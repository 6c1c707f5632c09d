"""Swagger UI at `/apidocs/` and the OpenAPI 3 document at `/apispec.json` (flasgger).

Each view declares its own operation (:mod:`bridge.web.openapi`: a docstring
of prose and decorators naming types); this module adds what the operations
share: the info, tags and security schemes, the shared problem answers, and
the components generated from every type the views name.

flasgger builds the document; the page is the bridge's own
(`templates/flasgger/index.html`, `static/apidocs/init.js`) over a current
Swagger UI release from the packaged distribution `swagger-ui-bundle-v2`
(swagger-ui-dist's files), served from `/apidocs/ui/`: nothing from a CDN,
and flasgger's bundled Swagger UI 3.x is not served at all. The page ignores
`?url=` and `?configUrl=` (`queryConfigEnabled: false`), so a link cannot
make it show another API and send the staff member's key there.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

from flasgger import Swagger
from flask import Blueprint, Flask, Response, send_from_directory
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]
from werkzeug.exceptions import NotFound

from bridge.answers import schema_of
from bridge.web.openapi import components, schemas_of
from bridge.web.problems import Problem

PROBLEMS = {
    "BadRequest": "The body or a field is missing or malformed.",
    "Invalid": "A field has an invalid value; `field` names it.",
    "Unauthorized": "Missing or wrong credentials.",
    "NotFound": "No such member, course or record.",
    "NotConfigured": "The endpoint's secret is not configured on this bridge.",
    "Upstream": "Fabman failed (502), is unavailable (503) or timed out (504).",
    "TooLarge": "The body is over 1 MiB.",
    "StillActive": "The member's training of the course is still active; nothing was queued.",
    "JobRunning": "The job is running in another worker or instance and did not finish within 30 s; try again later.",
}
"""The shared problem answers (`@problems(...)` refers to them), each a Problem."""

INFO = {
    "title": "FabLab Bridge",
    "version": "1.0.0",
    "description": (
        "Connects Fabman (members, trainings) with ClassMarker (online quizzes).\n\n"
        "* **Profile** endpoints serve the member's profile page; authenticate with the Fabman API key.\n"
        "* **Webhook** receives ClassMarker results, signed with HMAC-SHA256.\n"
        "* **Cron** endpoints are called by the scheduler with the `CronjobToken` header.\n"
        "* **Admin** endpoints are for staff; same key as the profile endpoints.\n\n"
        "Every error is RFC 9457 problem details (`type`, `title`, `status`, `detail`)."
    ),
}

TAGS = [
    {"name": "profile", "description": "The member's profile page (FabLab web)."},
    {"name": "webhook", "description": "ClassMarker result webhook."},
    {"name": "cron", "description": "Scheduled jobs."},
    {"name": "admin", "description": "Staff tools."},
    {"name": "operations", "description": "Health checks."},
]

SECURITY_SCHEMES = {
    "FabmanApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "The bridge's Fabman API key, with or without the `Bearer ` prefix.",
    },
    "CronjobToken": {"type": "apiKey", "in": "header", "name": "CronjobToken"},
    "FabmanWebhookToken": {
        "type": "apiKey",
        "in": "query",
        "name": "token",
        "description": "FABMAN_WEBHOOK_TOKEN, in the webhook URL registered in Fabman.",
    },
    "ClassMarkerSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Classmarker-Hmac-Sha256",
        "description": "base64(HMAC-SHA256(webhook secret, raw body)).",
    },
}


def template(app: Flask) -> dict[str, Any]:
    """The document around the operations: its info, tags and security schemes, and every component the views
    refer to, generated from their types.

    The types are the same for every app a process builds (a test session builds hundreds), so the document is
    made once per set of types; each app gets a copy of its own, since flasgger adds to the one it holds.
    """
    schemas, bodies = components(app)
    return copy.deepcopy(_template(tuple(schemas.items()), tuple(bodies.items())))


@functools.cache
def _template(schemas: tuple[tuple[str, type[Any]], ...], bodies: tuple[tuple[str, type[Any]], ...]) -> dict[str, Any]:
    problem = {"$ref": "#/components/schemas/Problem"}
    return {
        "info": INFO,
        "tags": TAGS,
        "components": {
            "securitySchemes": SECURITY_SCHEMES,
            "requestBodies": {name: _request_body(kind) for name, kind in bodies},
            "responses": {
                name: {"description": description, "content": {"application/problem+json": {"schema": problem}}}
                for name, description in PROBLEMS.items()
            },
            "schemas": {**schemas_of(dict(schemas)), **schemas_of({"Problem": Problem})},
        },
    }


def _request_body(kind: type[Any]) -> dict[str, Any]:
    schema = schema_of(kind)
    body: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{kind.__name__}"}}
    if "example" in schema:
        body["example"] = schema["example"]
    return {"required": True, "description": schema.get("description", ""), "content": {"application/json": body}}


SWAGGER_UI = Path(str(swagger_ui_path))
"""swagger-ui-dist's files, as the `swagger-ui-bundle-v2` distribution installs them."""
SWAGGER_UI_FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png"})
"""The files the page uses; the distribution's own index.html (which points at a demo API elsewhere) is not served."""
UI_ROUTE = "/apidocs/ui"
PAGE_STATIC = Path(__file__).resolve().parents[1] / "static" / "apidocs"

CONFIG: dict[str, Any] = {
    "openapi": "3.0.3",
    "headers": [],
    "specs": [
        {"endpoint": "apispec", "route": "/apispec.json", "rule_filter": lambda rule: True, "model_filter": lambda tag: True}
    ],
    "static_url_path": "/flasgger_static",
    "static_folder": str(PAGE_STATIC),
    "swagger_ui": True,
    "specs_route": "/apidocs/",
    "title": "FabLab Bridge API",
    "swagger_ui_bundle_js": f"{UI_ROUTE}/swagger-ui-bundle.js",
    "swagger_ui_css": f"{UI_ROUTE}/swagger-ui.css",
    "favicon": f"{UI_ROUTE}/favicon-32x32.png",
    "ui_params": {"queryConfigEnabled": False},
}

swagger_ui = Blueprint("swagger_ui", __name__, url_prefix=UI_ROUTE)


@swagger_ui.get("/<name>")
def swagger_ui_file(name: str) -> Response:
    """One of Swagger UI's files, from the installed distribution."""
    if name not in SWAGGER_UI_FILES:
        raise NotFound()
    return send_from_directory(SWAGGER_UI, name, max_age=3600)


def register_docs(app: Flask) -> Swagger:
    """Serve Swagger UI (a current release, from the bridge itself) and the OpenAPI document."""
    app.register_blueprint(swagger_ui)
    return Swagger(app, template=template(app), config=CONFIG, merge=False)
