"""What every response carries, what CORS allows, and that production never debugs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.helpers import get_debug_flag
from flask.testing import FlaskClient

from bridge.application import bridge_of
from harness import CRON_TOKEN
from harness.classmarker import signed

LISTED = "https://fablab.example"
ALSO_LISTED = "https://admin.fablab.example:8443"
CORS_HEADERS = ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Headers")


def _calls(api_key: str) -> list[tuple[str, str, dict[str, object]]]:
    """One call of each kind: success, auth failure, not found, wrong method, bad input, webhook."""
    body, signature = signed({"payload_status": "verify"})
    return [
        ("GET", "/available_trainings/1", {"headers": {"Authorization": api_key}}),
        ("GET", "/available_trainings/1", {}),
        ("GET", "/absolved_trainings/99999", {"headers": {"Authorization": api_key}}),
        ("GET", "/nowhere", {}),
        ("DELETE", "/get_training_links", {}),
        ("POST", "/get_training_links", {"headers": {"Authorization": api_key}, "json": {"member_id": "x"}}),
        ("POST", "/add_classmarker_training", {"data": body, "headers": signature}),
        ("POST", "/cron/retry", {"headers": {"CronjobToken": CRON_TOKEN}}),
        ("GET", "/health", {}),
    ]


# -- security headers ----------------------------------------------------------------


def test_every_api_response_carries_the_security_headers(client: FlaskClient, api_headers: dict[str, str]) -> None:
    statuses = set()
    for method, path, options in _calls(api_headers["Authorization"]):
        response = client.open(path, method=method, **options)  # type: ignore[arg-type]
        statuses.add(response.status_code)
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["Referrer-Policy"] == "no-referrer", path
        assert headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'", path
        assert headers["Cache-Control"] == "no-store", path
    assert statuses == {200, 401, 404, 405, 422}


def test_swagger_ui_keeps_the_headers_that_do_not_break_it(client: FlaskClient) -> None:
    response = client.get("/apidocs/")
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"


# -- CORS --------------------------------------------------------------------------------


def test_without_cors_origins_no_cors_header_is_ever_sent(client: FlaskClient, api_headers: dict[str, str]) -> None:
    for method, path, options in _calls(api_headers["Authorization"]):
        headers = {**options.pop("headers", {}), "Origin": LISTED}  # type: ignore[dict-item]
        response = client.open(path, method=method, headers=headers, **options)  # type: ignore[arg-type]
        assert not any(name in response.headers for name in CORS_HEADERS), path
    preflight = client.options(
        "/available_trainings/1",
        headers={"Origin": LISTED, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "Authorization"},
    )
    assert not any(name in preflight.headers for name in CORS_HEADERS)


@pytest.fixture
def cors_client(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(CORS_ORIGINS=f" {LISTED} , {ALSO_LISTED}").test_client()


@pytest.mark.parametrize("origin", [LISTED, ALSO_LISTED])
def test_listed_origins_get_cors_headers(cors_client: FlaskClient, api_headers: dict[str, str], origin: str) -> None:
    response = cors_client.get("/available_trainings/1", headers={**api_headers, "Origin": origin})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    preflight = cors_client.options(
        "/get_training_links",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    allowed = {h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "https://fablab.example.evil.example",
        "http://fablab.example",
        "https://fablab.example:8443",
        "null",
    ],
)
def test_other_origins_get_no_cors_headers(cors_client: FlaskClient, api_headers: dict[str, str], origin: str) -> None:
    response = cors_client.get("/available_trainings/1", headers={**api_headers, "Origin": origin})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = cors_client.options("/available_trainings/1", headers={"Origin": origin, "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_errors_to_a_listed_origin_are_readable_by_it(cors_client: FlaskClient) -> None:
    """The browser must see the 401 problem, or the web cannot tell a wrong key from a network error."""
    response = cors_client.get("/available_trainings/1", headers={"Origin": LISTED})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == LISTED


# -- no debugging in production -------------------------------------------------------------


@pytest.fixture
def prod_app(make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch) -> Flask:
    """A production bridge started by someone who left FLASK_DEBUG=1 in the environment."""
    monkeypatch.setenv("FLASK_DEBUG", "1")
    app = make_app(BE_ENV="prod")
    app.config["TESTING"] = False
    return app


def test_production_is_never_in_debug_mode(prod_app: Flask) -> None:
    assert prod_app.debug is False
    assert prod_app.config["DEBUG"] is False
    assert get_debug_flag() is False  # what `flask run` and app.run() consult after loading the app


def test_development_keeps_flask_debug(make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: the same environment outside production does debug, so the check above can fail."""
    monkeypatch.setenv("FLASK_DEBUG", "1")
    assert make_app(BE_ENV="dev").debug is True


def test_an_unexpected_error_in_production_is_a_problem_without_traceback(prod_app: Flask, api_headers: dict[str, str]) -> None:
    bridge_of(prod_app).store.database.drop_all()  # the store lost its tables: every query now fails inside the bridge
    response = prod_app.test_client().get("/admin/events", headers=api_headers)
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert set(problem) == {"type", "title", "status", "detail", "request_id"}
    text = response.get_data(as_text=True)
    for clue in ("Traceback", 'File "', "sqlalchemy", "inbox_events", "SELECT", "__debugger__"):
        assert clue not in text
