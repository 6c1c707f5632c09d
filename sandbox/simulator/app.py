"""The simulator's Flask app: Fabman's API under /api/v1, a control API under /_sim.

It answers the way the project's Fabman API notes say Fabman does (bare arrays, relative
`Link: rel="next"`, `X-Total-Count`, 401/404/409/415) so the bridge's client
is tested against behaviour, not against mocks of its own calls. Faults are
applied before authentication, as a proxy or rate limiter in front of the
real service would. The control API needs no key: it exists for tests.
"""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from .faults import FaultConfig
from .requests_log import LoggedRequest, RequestLog
from .state import (
    InvalidRequestError,
    Json,
    SimState,
    StaleLockVersionError,
    UnknownRecordError,
    utc_timestamp,
)

API_PREFIX = "/api/v1"
DEFAULT_PAGE_SIZE = 50
TRAINING_CREATE_FIELDS = frozenset({"trainingCourse", "date", "fromDate", "untilDate", "notes"})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

api = Blueprint("fabman_api", __name__, url_prefix=API_PREFIX)
control = Blueprint("sim_control", __name__, url_prefix="/_sim")


@dataclass(frozen=True)
class SimContext:
    """What the views share, kept in `app.extensions["fabman_simulator"]`."""

    state: SimState
    faults: FaultConfig
    log: RequestLog
    api_key: str


def create_simulator_app(
    state: SimState,
    api_key: str,
    *,
    faults: FaultConfig | None = None,
    log: RequestLog | None = None,
) -> Flask:
    """Build the app; pass `faults` and `log` to keep handles on them (FabmanSimulator does)."""
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["fabman_simulator"] = SimContext(
        state,
        FaultConfig() if faults is None else faults,
        RequestLog() if log is None else log,
        api_key,
    )
    app.before_request(_intercept_api_request)
    app.after_request(_log_api_request)
    app.after_request(_drop_answer_after_apply)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(UnknownRecordError, lambda error: _error(404, str(error)))
    app.register_error_handler(InvalidRequestError, lambda error: _error(400, str(error)))
    app.register_blueprint(api)
    app.register_blueprint(control)
    return app


def _context() -> SimContext:
    context: SimContext = current_app.extensions["fabman_simulator"]
    return context


def _error(status: int, message: str) -> Response:
    response = jsonify({"status": status, "error": message})
    response.status_code = status
    return response


def _http_error(error: HTTPException) -> Response:
    return _error(error.code or 500, error.description or error.name)


def _is_api_request() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def _api_path() -> str:
    return request.path[len(API_PREFIX) :] or "/"


# -- cross-cutting: faults, auth, content type, log ---------------------


def _intercept_api_request() -> Response | None:
    """Faults first, then the Bearer key, then the JSON content type."""
    if not _is_api_request():
        return None
    context = _context()
    g.sim_arrived = time.time()
    g.sim_injected = context.faults.pause()
    injection = context.faults.decide(request.method, _api_path())
    if injection is not None:
        g.sim_injected = True
        response = _error(injection.status, "fault injected by the simulator")
        if injection.retry_after is not None:
            response.headers["Retry-After"] = f"{injection.retry_after:g}"
        return response
    expected = f"Bearer {context.api_key}".encode()
    if not hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected):
        response = _error(401, "missing or wrong API key")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    if request.method in ("POST", "PUT") and request.mimetype != "application/json":
        return _error(415, "send Content-Type: application/json")
    return None


def _drop_answer_after_apply(response: Response) -> Response:
    """Replace a successful answer when an `after_apply` rule says so (runs before the log)."""
    if not _is_api_request() or response.status_code >= 400:
        return response
    injection = _context().faults.decide_after_apply(request.method, _api_path())
    if injection is None:
        return response
    g.sim_injected = True
    return _error(injection.status, "fault injected by the simulator after the request was applied")


def _log_api_request(response: Response) -> Response:
    if _is_api_request():
        _context().log.append(
            LoggedRequest(
                method=request.method,
                path=_api_path(),
                query=request.query_string.decode("utf-8", "replace"),
                status=response.status_code,
                at=g.get("sim_arrived", time.time()),
                injected=g.get("sim_injected", False),
            )
        )
    return response


# -- request parsing -----------------------------------------------------


def _int_arg(name: str, default: int, minimum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequestError(f"{name} must be an integer") from None
    if value < minimum:
        raise InvalidRequestError(f"{name} must be >= {minimum}")
    return value


def _page_args() -> tuple[int, int]:
    """(offset, limit); a limit above the state's maximum is clamped, not refused."""
    limit = min(_int_arg("limit", DEFAULT_PAGE_SIZE, minimum=1), _context().state.max_limit)
    return _int_arg("offset", 0, minimum=0), limit


def _order_args() -> dict[str, Any]:
    order = request.args.get("order", "asc")
    if order not in ("asc", "desc"):
        raise InvalidRequestError("order must be asc or desc")
    return {"order_by": request.args.get("orderBy", "id"), "descending": order == "desc"}


def _embeds() -> set[str]:
    """`embed` is repeatable; a comma-separated value is accepted too."""
    return {part.strip() for value in request.args.getlist("embed") for part in value.split(",") if part.strip()}


def _json_object() -> Json:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidRequestError("the body must be a JSON object")
    return body


def _iso_date(name: str, value: object) -> str:
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise InvalidRequestError(f"{name} must be a YYYY-MM-DD date")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise InvalidRequestError(f"{name} is not a valid date") from None
    return value


def _list_response(page: list[Json], total: int, offset: int, limit: int) -> Response:
    """A bare array with X-Total-Count, and a relative next link while records remain."""
    response = jsonify(page)
    response.headers["X-Total-Count"] = str(total)
    if offset + limit < total:
        kept = [(key, value) for key, value in request.args.items(multi=True) if key not in ("limit", "offset")]
        query = urlencode([("limit", limit), ("offset", offset + limit), *kept])
        response.headers["Link"] = f'<{request.script_root}{request.path}?{query}>; rel="next"'
    return response


# -- Fabman API ------------------------------------------------------------


@api.get("/members")
def list_members() -> Response:
    """Members, paginated, with `q`, `orderBy`/`order` and embeds."""
    offset, limit = _page_args()
    total, page = _context().state.list_members(
        q=request.args.get("q"), offset=offset, limit=limit, embed=_embeds(), **_order_args()
    )
    return _list_response(page, total, offset, limit)


@api.get("/members/<int:member_id>")
def get_member(member_id: int) -> Response:
    """One member, with embeds."""
    return jsonify(_context().state.member_view(member_id, _embeds()))


@api.put("/members/<int:member_id>")
def update_member(member_id: int) -> Response:
    """Optimistic-locking update: 409 unless `lockVersion` is the current one."""
    context = _context()
    context.state.member(member_id)
    changes = _json_object()
    if context.faults.roll_conflict():
        g.sim_injected = True
        return _error(409, "fault injected by the simulator: lockVersion conflict")
    try:
        return jsonify(context.state.update_member(member_id, changes, changes.get("lockVersion")))
    except StaleLockVersionError as error:
        return _error(409, str(error))


@api.get("/members/<int:member_id>/privileges")
def get_privileges(member_id: int) -> Response:
    """The member's privilege level."""
    return jsonify({"privileges": _context().state.privileges_of(member_id)})


@api.get("/members/<int:member_id>/trainings")
def list_trainings(member_id: int) -> Response:
    """The member's training records, paginated; `embed=trainingCourse` adds the course."""
    offset, limit = _page_args()
    total, page = _context().state.list_trainings(
        member_id, offset=offset, limit=limit, embed_course="trainingCourse" in _embeds(), **_order_args()
    )
    return _list_response(page, total, offset, limit)


@api.post("/members/<int:member_id>/trainings")
def create_training(member_id: int) -> tuple[Response, int]:
    """Add a training record; unknown fields and unknown courses are a 400."""
    state = _context().state
    state.member(member_id)
    body = _json_object()
    unknown = sorted(set(body) - TRAINING_CREATE_FIELDS)
    if unknown:
        raise InvalidRequestError(f"unknown fields: {', '.join(unknown)}")
    course_id = body.get("trainingCourse")
    if type(course_id) is not int:
        raise InvalidRequestError("trainingCourse must be a course id")
    try:
        state.course(course_id)
    except UnknownRecordError as error:
        raise InvalidRequestError(str(error)) from None
    notes = body.get("notes")
    if notes is not None and not isinstance(notes, str):
        raise InvalidRequestError("notes must be a string")
    training_date = _iso_date("date", body.get("date", datetime.now(UTC).date().isoformat()))
    from_date = training_date if body.get("fromDate") is None else _iso_date("fromDate", body["fromDate"])
    if "untilDate" not in body:
        until_date = state.default_until_date(course_id, from_date)
    else:
        until_date = None if body["untilDate"] is None else _iso_date("untilDate", body["untilDate"])
    record = state.add_training(
        member_id, course_id, training_date, until_date, notes, from_date=from_date, created_at=utc_timestamp()
    )
    return jsonify(record), 201


@api.delete("/members/<int:member_id>/trainings/<int:record_id>")
def delete_training(member_id: int, record_id: int) -> tuple[str, int]:
    """Remove a training record by its own id."""
    _context().state.delete_training(member_id, record_id)
    return "", 204


@api.get("/training-courses")
def list_courses() -> Response:
    """Training courses, archived ones included, paginated."""
    offset, limit = _page_args()
    total, page = _context().state.list_courses(q=request.args.get("q"), offset=offset, limit=limit, **_order_args())
    return _list_response(page, total, offset, limit)


@api.get("/training-courses/<int:course_id>")
def get_course(course_id: int) -> Response:
    """One training course."""
    return jsonify(_context().state.course(course_id))


@api.get("/resources")
def list_resources() -> Response:
    """Equipment, paginated, with `q` on the name."""
    offset, limit = _page_args()
    total, page = _context().state.list_resources(q=request.args.get("q"), offset=offset, limit=limit, **_order_args())
    return _list_response(page, total, offset, limit)


@api.get("/resources/<int:resource_id>")
def get_resource(resource_id: int) -> Response:
    """One piece of equipment."""
    return jsonify(_context().state.resource(resource_id))


@api.get("/resource-logs")
def list_resource_logs() -> Response:
    """The activity log, paginated, oldest entry first unless ordered otherwise."""
    offset, limit = _page_args()
    total, page = _context().state.list_resource_logs(offset=offset, limit=limit, **_order_args())
    return _list_response(page, total, offset, limit)


# -- control API (no auth, never logged, never faulted) --------------------


def _control_body() -> Json:
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise InvalidRequestError("the body must be a JSON object")
    return body


@control.get("/requests")
def control_requests() -> Response:
    """The API request log, oldest answer first."""
    return jsonify([entry.as_json() for entry in _context().log.snapshot()])


@control.delete("/requests")
def control_clear_requests() -> tuple[str, int]:
    """Empty the request log."""
    _context().log.clear()
    return "", 204


@control.get("/faults")
def control_faults() -> Response:
    """Current fault settings and pending fail_next rules."""
    return jsonify(_context().faults.snapshot())


@control.put("/faults")
def control_update_faults() -> Response:
    """Patch fault fields, e.g. {"latency_ms": 50, "error_rate": 0.1}."""
    faults = _context().faults
    try:
        faults.update(**_control_body())
    except ValueError as error:
        raise InvalidRequestError(str(error)) from None
    return jsonify(faults.snapshot())


@control.post("/reset_faults")
def control_reset_faults() -> Response:
    """Back to a well-behaved Fabman."""
    faults = _context().faults
    faults.reset()
    return jsonify(faults.snapshot())


@control.post("/fail_next")
def control_fail_next() -> Response:
    """Make the next N matching requests answer a status: {"count", "status", "method", "path_contains", "after_apply"}."""
    body = _control_body()
    faults = _context().faults
    try:
        faults.fail_next(
            body.get("count", 1),
            body.get("status", 503),
            body.get("method"),
            body.get("path_contains"),
            after_apply=body.get("after_apply", False),
        )
    except ValueError as error:
        raise InvalidRequestError(str(error)) from None
    return jsonify(faults.snapshot())


@control.get("/stats")
def control_stats() -> Response:
    """Record counts, logged requests and injected faults."""
    context = _context()
    return jsonify({**context.state.counts(), "requests": len(context.log), "faults_injected": context.faults.faults_injected})


@control.get("/members/<int:member_id>")
def control_member(member_id: int) -> Response:
    """The member with trainings and privileges, to check what a client wrote."""
    return jsonify(_context().state.member_view(member_id, {"trainings", "privileges"}))


@control.get("/members/<int:member_id>/trainings")
def control_member_trainings(member_id: int) -> Response:
    """All the member's training records with their courses, unpaginated."""
    return jsonify(_context().state.trainings_of(member_id, embed_course=True))
