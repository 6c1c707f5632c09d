"""Swagger UI at `/apidocs/` and the OpenAPI 3 document at `/apispec.json` (flasgger).

Each view's docstring carries its own operation (summary on the first line);
the shared schemas, responses and security schemes live here.

flasgger builds the document; the page is the bridge's own
(`templates/flasgger/index.html`, `static/apidocs/init.js`) over a current
Swagger UI release from the packaged distribution `swagger-ui-bundle-v2`
(swagger-ui-dist's files), served from `/apidocs/ui/`: nothing from a CDN,
and flasgger's bundled Swagger UI 3.x is not served at all. The page ignores
`?url=` and `?configUrl=` (`queryConfigEnabled: false`), so a link cannot
make it show another API and send the staff member's key there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flasgger import Swagger
from flask import Blueprint, Flask, Response, send_from_directory
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]
from werkzeug.exceptions import NotFound

from bridge.domain.models import FABMAN_ID_LIMIT, MAX_ID
from bridge.web.shapes import components as shape_components

_PROBLEM = {"$ref": "#/components/schemas/Problem"}
# An id in a JSON body: a positive 32-bit integer, or the same as a digit string.
_ID: dict[str, Any] = {
    "oneOf": [
        {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        {"type": "string", "pattern": "^0*[1-9][0-9]{0,8}$"},
    ]
}


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _PROBLEM}}}


TEMPLATE: dict[str, Any] = {
    "info": {
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
    },
    "tags": [
        {"name": "profile", "description": "The member's profile page (FabLab web)."},
        {"name": "webhook", "description": "ClassMarker result webhook."},
        {"name": "cron", "description": "Scheduled jobs."},
        {"name": "admin", "description": "Staff tools."},
        {"name": "operations", "description": "Health checks."},
    ],
    "components": {
        "securitySchemes": {
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
        },
        "requestBodies": {
            "MemberCourse": {
                "required": True,
                "description": "A member and one training course, as integers or digit strings.",
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/MemberCourse"},
                        "example": {"member_id": 1, "training_id": 2},
                    }
                },
            }
        },
        "responses": {
            "BadRequest": _problem_response("The body or a field is missing or malformed."),
            "Invalid": _problem_response("A field has an invalid value; `field` names it."),
            "Unauthorized": _problem_response("Missing or wrong credentials."),
            "NotFound": _problem_response("No such member, course or record."),
            "NotConfigured": _problem_response("The endpoint's secret is not configured on this bridge."),
            "Upstream": _problem_response("Fabman failed (502), is unavailable (503) or timed out (504)."),
            "TooLarge": _problem_response("The body is over 1 MiB."),
            "StillActive": _problem_response("The member's training of the course is still active; nothing was queued."),
            "JobRunning": _problem_response(
                "The job is running in another worker or instance and did not finish within 30 s; try again later."
            ),
        },
        "schemas": {
            **shape_components(),
            "Problem": {
                "type": "object",
                "required": ["type", "title", "status", "detail"],
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "field": {"type": "string"},
                    "request_id": {"type": "string"},
                },
            },
            "MemberCourse": {
                "type": "object",
                "required": ["member_id", "training_id"],
                "properties": {
                    "member_id": _ID,
                    "training_id": {"description": "Training course id.", **_ID},
                },
            },
            "ClassMarkerResult": {
                "type": "object",
                "description": "ClassMarker's link-result payload (see ClassMarker's webhook docs).",
                "properties": {
                    "payload_type": {"type": "string", "example": "single_user_test_results_link"},
                    "payload_status": {"type": "string", "enum": ["live", "verify"]},
                    "test": {"type": "object"},
                    "link": {"type": "object"},
                    "result": {"type": "object"},
                },
            },
            "FabmanEvent": {
                "type": "object",
                "description": "A Fabman webhook event (see Fabman's webhook docs).",
                "required": ["id", "type"],
                "properties": {
                    "id": {
                        "oneOf": [
                            {"type": "integer", "minimum": 1, "maximum": FABMAN_ID_LIMIT - 1},
                            {
                                "type": "string",
                                "description": "an event key with a letter or one of _.: (digits alone: the id range)",
                                "pattern": "^[A-Za-z0-9_.:-]*[A-Za-z_.:][A-Za-z0-9_.:-]*$",
                                "maxLength": 80,
                            },
                        ]
                    },
                    "type": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,80}$", "example": "resourceLog_created"},
                    "createdAt": {"type": "string"},
                    "details": {"type": "object"},
                },
            },
            "RetrySummary": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "example": {
                    "processed": 2,
                    "applied": 2,
                    "queued": 0,
                    "rejected": 0,
                    "error": 0,
                    "dead": 0,
                    "mails_sent": 2,
                    "mails_failed": 0,
                    "mails_dead": 0,
                },
            },
            "ReconcileSummary": {
                "type": "object",
                "required": ["pages", "seen", "new", "applied", "needs_review", "gap", "complete", "stopped"],
                "properties": {
                    "pages": {"type": "integer", "description": "Pages of results read from ClassMarker."},
                    "seen": {"type": "integer", "description": "Distinct results listed (overlapping pages counted once)."},
                    "new": {"type": "integer", "description": "Results the inbox lacked, stored by this run (source poll)."},
                    "applied": {"type": "integer", "description": "New results applied to Fabman by this run."},
                    "needs_review": {"type": "integer", "description": "New results without passed or pass mark."},
                    "gap": {"type": "integer", "description": "Results first found by polling in the last 24 hours."},
                    "gap_total": {"type": "integer"},
                    "queued": {"type": "integer", "description": "New results Fabman refused for now (retried)."},
                    "rejected": {"type": "integer"},
                    "error": {"type": "integer"},
                    "dead": {"type": "integer"},
                    "awaiting_grading": {"type": "integer"},
                    "in_progress": {"type": "integer", "description": "Results still being taken: skipped."},
                    "ignored": {"type": "integer", "description": "Results without a cm_user_id: nobody to credit."},
                    "unreadable": {"type": "integer"},
                    "finished_after": {"type": "integer", "description": "Where the listing started (UNIX seconds)."},
                    "requests_last_hour": {"type": "integer", "description": "Of the 20 allowed, shared by every process."},
                    "mails_sent": {"type": "integer"},
                    "complete": {"type": "boolean", "description": "Every page was read."},
                    "stopped": {"type": "string", "nullable": True, "description": "Why the run ended early, or null."},
                },
                "example": {
                    "pages": 1,
                    "seen": 12,
                    "new": 1,
                    "applied": 1,
                    "needs_review": 0,
                    "gap": 1,
                    "gap_total": 3,
                    "queued": 0,
                    "rejected": 0,
                    "error": 0,
                    "dead": 0,
                    "awaiting_grading": 0,
                    "in_progress": 1,
                    "ignored": 0,
                    "unreadable": 0,
                    "finished_after": 1763708400,
                    "requests_last_hour": 1,
                    "mails_sent": 2,
                    "complete": True,
                    "stopped": None,
                },
            },
            "Readiness": {
                "type": "object",
                "properties": {
                    "status": {"type": "string"},
                    "checks": {"type": "object", "additionalProperties": {"type": "boolean"}},
                    "classmarker_verification": {
                        "type": "boolean",
                        "description": "VERIFY_CLASSMARKER_REQUESTS: false only outside prod, and then `warnings` says so.",
                    },
                    "warnings": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "What works but is unsafe, e.g. ClassMarker verification off.",
                    },
                    "jobs": {
                        "type": "object",
                        "description": "Each job: whether it runs in-process here, and its last run (null: never run).",
                        "additionalProperties": {
                            "type": "object",
                            "properties": {
                                "enabled": {"type": "boolean"},
                                "last_run": {
                                    "type": "object",
                                    "nullable": True,
                                    "properties": {
                                        "started_at": {"type": "string", "format": "date-time"},
                                        "seconds": {"type": "number", "nullable": True},
                                        "ok": {"type": "boolean"},
                                    },
                                },
                            },
                        },
                    },
                    "reconciliation": {
                        "type": "object",
                        "description": "Reconciliation with ClassMarker's results API and the webhook gap.",
                        "properties": {
                            "enabled": {"type": "boolean", "description": "CLASSMARKER_API_KEY and _SECRET are set."},
                            "last_run": {
                                "type": "object",
                                "nullable": True,
                                "properties": {
                                    "started_at": {"type": "string", "format": "date-time"},
                                    "finished_at": {"type": "string", "format": "date-time", "nullable": True},
                                    "complete": {"type": "boolean"},
                                    "stopped": {"type": "string", "nullable": True},
                                },
                            },
                            "newest_result_seen": {"type": "string", "format": "date-time", "nullable": True},
                            "requests_last_hour": {"type": "integer"},
                            "requests_per_hour": {"type": "integer"},
                            "webhook_gap": {"$ref": "#/components/schemas/WebhookGap"},
                        },
                    },
                },
            },
            "WebhookGap": {
                "type": "object",
                "description": "Results first found by polling: their webhook never reached the bridge.",
                "properties": {
                    "last_24h": {"type": "integer"},
                    "total": {"type": "integer"},
                    "last_found_at": {"type": "string", "format": "date-time", "nullable": True},
                },
            },
        },
    },
}

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
    return Swagger(app, template=TEMPLATE, config=CONFIG, merge=False)
