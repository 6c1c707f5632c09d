"""What every endpoint shares (contract section 7): one error shape, request ids, timing, health."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from bridge.application import bridge_of
from harness.launch import GunicornBridge
from sandbox.simulator import FabmanSimulator
from tests.support import problem

# -- one error shape ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/no/such/route", "/absolved_trainings/abc", "/available_trainings/", "/absolved_trainings/-1"])
def test_unknown_routes_are_problem_json(client: FlaskClient, path: str) -> None:
    problem(client.get(path), 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/available_trainings/1", {"GET", "HEAD", "OPTIONS"}),
        ("DELETE", "/absolved_trainings/1", {"GET", "HEAD", "OPTIONS"}),
        ("GET", "/get_training_links", {"POST", "OPTIONS"}),
        ("PUT", "/health", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_wrong_methods_are_405_problem_json_with_allow(client: FlaskClient, method: str, path: str, allowed: set[str]) -> None:
    response = client.open(path, method=method)

    problem(response, 405)
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed


def test_a_body_over_one_mebibyte_is_413(client: FlaskClient, api_headers: dict[str, str]) -> None:
    body = b'{"member_id": 1, "training_id": 2, "pad": "' + b"x" * (1024 * 1024) + b'"}'

    problem(client.post("/get_training_links", data=body, content_type="application/json", headers=api_headers), 413)


def test_an_unexpected_error_is_a_500_problem_without_details(make_app: Callable[..., Flask]) -> None:
    app = make_app()

    def explode() -> str:
        raise RuntimeError("secret internals: /etc/bridge.conf line 3")

    app.add_url_rule("/explode", "explode", explode)

    response = app.test_client().get("/explode")

    body = problem(response, 500)
    assert "secret internals" not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)
    assert body["request_id"] == response.headers["X-Request-Id"]


# -- request ids -------------------------------------------------------------------------


def test_a_callers_request_id_is_echoed(client: FlaskClient, api_headers: dict[str, str]) -> None:
    response = client.get("/available_trainings/1", headers={**api_headers, "X-Request-Id": "web-2f8a.91_c"})

    assert response.headers["X-Request-Id"] == "web-2f8a.91_c"


def test_the_request_id_is_in_the_problem_body(client: FlaskClient) -> None:
    response = client.get("/available_trainings/1", headers={"X-Request-Id": "trace-401"})

    assert problem(response, 401)["request_id"] == "trace-401"


@pytest.mark.parametrize("incoming", [None, "", "has spaces", "x" * 65, "semi;colon", "ünïcode"])
def test_a_missing_or_unsafe_request_id_is_replaced(client: FlaskClient, incoming: str | None) -> None:
    headers = {} if incoming is None else {"X-Request-Id": incoming}

    first = client.get("/health", headers=headers).headers["X-Request-Id"]
    second = client.get("/health", headers=headers).headers["X-Request-Id"]

    assert re.fullmatch(r"[0-9a-f]{16}", first)
    assert first != second


# -- Server-Timing ------------------------------------------------------------------------------


def timing_entries(header: str) -> list[str]:
    return [part.strip() for part in header.split(",")]


def test_track_time_reports_the_total_and_every_fabman_call(
    make_app: Callable[..., Flask], api_headers: dict[str, str], simulator: FabmanSimulator
) -> None:
    client = make_app(TRACK_TIME="true").test_client()
    simulator.faults.fail_next(1, 503, path_contains="/members/1")

    response = client.get("/available_trainings/1", headers=api_headers)

    assert response.status_code == 200
    entries = timing_entries(response.headers["Server-Timing"])
    assert re.fullmatch(r"total;dur=\d+(\.\d+)?", entries[0])
    upstream = entries[1:]
    assert len(upstream) == len(simulator.requests) == 3  # a 503, its retry, the course list
    assert [re.search(r'desc="([^"]*)"', entry).group(1) for entry in upstream] == ["GET 503", "GET 200", "GET 200"]  # type: ignore[union-attr]
    assert all(re.search(r";dur=\d+(\.\d+)?$", entry) for entry in upstream)


def test_track_time_on_errors_and_requests_without_fabman(make_app: Callable[..., Flask], simulator: FabmanSimulator) -> None:
    client = make_app(TRACK_TIME="yes").test_client()

    assert timing_entries(client.get("/health").headers["Server-Timing"])[0].startswith("total;dur=")
    assert len(timing_entries(client.get("/available_trainings/1").headers["Server-Timing"])) == 1


def test_no_server_timing_unless_asked(client: FlaskClient, api_headers: dict[str, str]) -> None:
    assert "Server-Timing" not in client.get("/available_trainings/1", headers=api_headers).headers


# -- health ------------------------------------------------------------------------------------


def test_health_answers_while_the_process_runs(client: FlaskClient, simulator: FabmanSimulator) -> None:
    simulator.faults.down = True

    response = client.get("/health")

    assert (response.status_code, response.json) == (200, {"status": "ok"})
    assert simulator.requests == []


def test_ready_when_store_and_configuration_are_complete(client: FlaskClient) -> None:
    response = client.get("/ready")

    assert response.status_code == 200
    assert response.json == {
        "status": "ready",
        "checks": {"store": True, "webhook_secret": True, "cronjob_token": True, "mail_sender": True},
        "classmarker_verification": True,
        "warnings": [],
        "jobs": {  # the test environment has JOBS=off
            "retry": {"enabled": False, "last_run": None},
            "expiry_sweep": {"enabled": False, "last_run": None},
            "reconciliation": {"enabled": False, "last_run": None},
            "digest": {"enabled": False, "last_run": None},
            "checkpoint": {"enabled": False, "last_run": None},
            "purge": {"enabled": False, "last_run": None},
        },
        "reconciliation": {  # off: the test environment has no ClassMarker API credentials
            "enabled": False,
            "last_run": None,
            "newest_result_seen": None,
            "requests_last_hour": 0,
            "requests_per_hour": 20,
            "webhook_gap": {"last_24h": 0, "total": 0, "last_found_at": None},
        },
    }


@pytest.mark.parametrize(
    ("missing", "check"),
    [
        ("CRONJOB_TOKEN", "cronjob_token"),
        ("CLASSMARKER_WEBHOOK_SECRET", "webhook_secret"),
        ("MAIL_DEFAULT_SENDER", "mail_sender"),
    ],
)
def test_not_ready_when_a_client_would_be_refused(make_app: Callable[..., Flask], missing: str, check: str) -> None:
    response = make_app(**{missing: None}).test_client().get("/ready")

    body = problem(response, 503)
    assert body["checks"][check] is False
    assert [name for name, passed in body["checks"].items() if not passed] == [check]
    assert check in body["detail"]


def test_without_webhook_verification_no_secret_is_needed(make_app: Callable[..., Flask]) -> None:
    client = make_app(CLASSMARKER_WEBHOOK_SECRET=None, VERIFY_CLASSMARKER_REQUESTS="false").test_client()

    assert client.get("/ready").status_code == 200


def test_not_ready_when_the_store_is_gone(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    app = make_app(DATABASE_URL=f"sqlite:///{folder / 'bridge.sqlite3'}")
    bridge_of(app).store.dispose()
    shutil.rmtree(folder)

    body = problem(app.test_client().get("/ready"), 503)

    assert body["checks"]["store"] is False
    assert "store" in body["detail"]


# -- served by gunicorn, as deployed ------------------------------------------------------------


@pytest.mark.e2e
def test_gunicorn_serves_the_profile_and_logs_one_line_per_request_with_its_id(
    env: dict[str, str], simulator: FabmanSimulator, tmp_path: Path
) -> None:
    log_path = tmp_path / "gunicorn.log"
    key = simulator.api_key
    with GunicornBridge({**env, "TRACK_TIME": "true"}, workers=1, threads=2, log_path=log_path) as bridge:
        available = requests.get(
            f"{bridge.url}/available_trainings/1", headers={"Authorization": key, "X-Request-Id": "trace-7f3a"}, timeout=10
        )
        links = requests.post(
            f"{bridge.url}/get_training_links",
            json={"member_id": "1", "training_id": "2"},
            headers={"Authorization": f"Bearer {key}", "X-Request-Id": "trace-links"},
            timeout=10,
        )
        unknown = requests.get(f"{bridge.url}/absolved_trainings/999", headers={"Authorization": key}, timeout=10)
        simulator.faults.down = True
        down = requests.get(
            f"{bridge.url}/absolved_trainings/1", headers={"Authorization": key, "X-Request-Id": "trace-down"}, timeout=10
        )
        refused = requests.get(f"{bridge.url}/absolved_trainings/1", headers={"Authorization": "nope"}, timeout=10)

    assert available.status_code == 200 and available.headers["X-Request-Id"] == "trace-7f3a"
    assert "total;dur=" in available.headers["Server-Timing"]
    assert {item["id"] for item in available.json()} == {2, 3, 4, 5, 6, 12}
    assert links.status_code == 200 and links.json()["attempts_left"] == 3
    assert (unknown.status_code, unknown.headers["Content-Type"]) == (404, "application/problem+json")
    assert down.status_code == 503 and down.json()["title"] == "Fabman unavailable"
    assert refused.status_code == 401

    log = log_path.read_text()
    lines = log.splitlines()
    assert any("[trace-7f3a]" in line and "GET /available_trainings/1 -> 200" in line for line in lines), log
    assert any("[trace-links]" in line and "POST /get_training_links -> 200" in line for line in lines), log
    assert any("[trace-down]" in line and "-> 503" in line for line in lines), log
    tokens = [parse_qs(urlsplit(item["quiz_url"]).query)["cm_user_id"][0] for item in available.json()]
    tokens.append(parse_qs(urlsplit(links.json()["quiz_url"]).query)["cm_user_id"][0])
    for secret in [key, env["FERNET_KEY"], env["SECRET_KEY"], env["CLASSMARKER_WEBHOOK_SECRET"], env["CRONJOB_TOKEN"], *tokens]:
        assert secret not in log
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :]
