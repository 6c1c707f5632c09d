"""Query parameters are read as strictly as bodies: a value the bridge cannot read is a 400 naming it.

A small app with the project's error handlers and two views, one per reader,
driven through Flask's test client (no socket).
"""

from __future__ import annotations

import pytest
from flask import Flask, jsonify
from flask.testing import FlaskClient

from bridge.web.inputs import choice, flag
from bridge.web.problems import register_errorhandlers
from tests.support import problem

STATUSES = ("queued", "applied", "dead")


@pytest.fixture
def client() -> FlaskClient:
    app = Flask(__name__)
    register_errorhandlers(app)

    @app.get("/flag")
    def read_flag() -> object:
        return jsonify(dry_run=flag("dry_run"))

    @app.get("/choice")
    def read_choice() -> object:
        return jsonify(status=choice("status", STATUSES))

    return app.test_client()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("1", True), ("YES", True), ("On", True), (" on ", True)]
    + [("false", False), ("0", False), ("no", False), ("OFF", False)],
)
def test_a_flag_reads_the_words_the_configuration_reads(client: FlaskClient, raw: str, expected: bool) -> None:
    assert client.get("/flag", query_string={"dry_run": raw}).json == {"dry_run": expected}


def test_an_absent_flag_is_false(client: FlaskClient) -> None:
    assert client.get("/flag").json == {"dry_run": False}


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("dry_run=", "is empty"),
        ("dry_run=%20", "is empty"),
        ("dry_run", "is empty"),
        ("dry_run=maybe", "is not a boolean"),
        ("dry_run=truee", "is not a boolean"),
        ("dry_run=2", "is not a boolean"),
    ],
)
def test_an_empty_or_unreadable_flag_is_400_naming_it(client: FlaskClient, query: str, says: str) -> None:
    body = problem(client.get("/flag?" + query), 400)

    assert body["field"] == "dry_run"
    assert body["detail"].startswith(f"query parameter 'dry_run' {says}")
    assert "true/false" in body["detail"]


@pytest.mark.parametrize("query", ["dry_run=true&dry_run=false", "dry_run=true&dry_run=true", "dry_run=&dry_run=true"])
def test_a_flag_given_twice_is_400(client: FlaskClient, query: str) -> None:
    body = problem(client.get("/flag?" + query), 400)

    assert body["field"] == "dry_run"
    assert "more than once" in body["detail"]


def test_an_absent_choice_is_none_and_an_allowed_one_is_itself(client: FlaskClient) -> None:
    assert client.get("/choice").json == {"status": None}
    assert [client.get("/choice", query_string={"status": s}).json["status"] for s in STATUSES] == list(STATUSES)


@pytest.mark.parametrize("query", ["status=", "status", "status=Queued", "status=%20queued", "status=gone", "status=queued,dead"])
def test_an_empty_or_unknown_choice_is_400_listing_the_allowed_values(client: FlaskClient, query: str) -> None:
    body = problem(client.get("/choice?" + query), 400)

    assert body["field"] == "status"
    assert body["detail"] == "query parameter 'status' must be one of queued, applied, dead"
    assert body["allowed"] == list(STATUSES)


def test_a_choice_given_twice_is_400(client: FlaskClient) -> None:
    body = problem(client.get("/choice?status=queued&status=dead"), 400)

    assert body["field"] == "status"
