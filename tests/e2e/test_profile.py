"""The three profile endpoints (contract section 3) against the Fabman simulator over real HTTP.

Member ids are the seed's (sandbox/simulator/seed.py): 1 Petra (member), 2 Jan
(failed CNC twice, out of attempts on Laser), 3 Tomáš (owner), 4 Lucie (admin),
5 Martin (duplicate records), 6 Eva (presence-only course), 8 Kateřina
(archived and null-metadata courses), 10 Zuzana (holds every online course),
11 Lukáš (a training ending today), 13 Daniel (out of attempts on CNC's 5).
Courses: 1 safety, 2 laser, 3 3D print, 4 CNC (max_attempts 5), 5 vinyl,
6 soldering, 7 lathe and 8 welding (presence-only), 9 supervisor (admin_only),
10 archived, 11 null metadata, 12 vacuum (only cm_url and cs_name).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bridge.adapters.codec import QuizIdentity
from bridge.application import Bridge, bridge_of
from bridge.domain.calendar import today_in
from sandbox.simulator import FabmanSimulator, SimState
from tests.support import problem

ONLINE = {1, 2, 3, 4, 5, 6, 12}
QUIZ_PREFIX = "https://www.classmarker.com/online-test/start/?quiz="


def token_of(quiz_url: str) -> str:
    (token,) = parse_qs(urlsplit(quiz_url).query)["cm_user_id"]
    return token


def by_id(listed: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {item["id"]: item for item in listed}


def fabman_calls(simulator: FabmanSimulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in simulator.requests]


# -- auth ---------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/absolved_trainings/1", None),
    ("GET", "/absolved_training/1", None),
    ("GET", "/available_trainings/1", None),
    ("POST", "/get_training_links", {"member_id": 1, "training_id": 2}),
]


WRONG_AUTHORIZATIONS = [
    None,
    "",
    "Bearer",
    "Bearer ",
    "wrong-key",
    "Bearer wrong-key",
    "sim-admin-key2",
    "sim-admin-ke",
    "Basic sim-admin-key",
    "Bearer Bearer sim-admin-key",
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_without_the_api_key_nothing_is_shown_and_fabman_is_not_asked(
    client: FlaskClient, simulator: FabmanSimulator, method: str, path: str, body: Any
) -> None:
    for authorization in WRONG_AUTHORIZATIONS:
        headers = {} if authorization is None else {"Authorization": authorization}

        response = client.open(path, method=method, json=body, headers=headers)

        assert response.status_code == 401, authorization
        problem(response, 401)
    assert simulator.requests == []


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_the_key_is_accepted_with_or_without_bearer(
    client: FlaskClient, simulator: FabmanSimulator, method: str, path: str, body: Any
) -> None:
    for prefix in ("", "Bearer ", "bearer "):
        response = client.open(path, method=method, json=body, headers={"Authorization": prefix + simulator.api_key})

        assert response.status_code == 200, prefix


def test_a_configured_key_that_already_says_bearer_works_both_ways(
    make_app: Callable[..., Flask], simulator: FabmanSimulator
) -> None:
    client = make_app(FABMAN_API_KEY=f"Bearer {simulator.api_key}").test_client()

    for authorization in (simulator.api_key, f"Bearer {simulator.api_key}"):
        assert client.get("/available_trainings/1", headers={"Authorization": authorization}).status_code == 200
    problem(client.get("/available_trainings/1", headers={"Authorization": "Bearer x"}), 401)


# -- absolved trainings ------------------------------------------------------------


def test_absolved_lists_active_trainings_of_online_courses_with_fabmans_dates(
    client: FlaskClient, api_headers: dict[str, str], simulator: FabmanSimulator
) -> None:
    response = client.get("/absolved_trainings/1", headers=api_headers)

    assert response.status_code == 200
    (safety,) = response.json  # the expired Laser training is not listed
    record = next(r for r in simulator.state.trainings_of(1) if r["trainingCourse"] == 1)
    assert safety["id"] == 1
    assert safety["title"] == "Bezpečnost v dílně"
    assert safety["date"] == record["date"]
    assert safety["until_date"] == record["untilDate"]
    assert safety["en_name"] == "Workshop safety"
    assert fabman_calls(simulator) == ["GET /members/1"]


def test_the_alias_route_answers_the_same(client: FlaskClient, api_headers: dict[str, str]) -> None:
    assert (
        client.get("/absolved_training/5", headers=api_headers).json
        == client.get("/absolved_trainings/5", headers=api_headers).json
    )


def test_absolved_shows_one_record_per_course_the_latest(
    client: FlaskClient, api_headers: dict[str, str], simulator: FabmanSimulator
) -> None:
    listed = by_id(client.get("/absolved_trainings/5", headers=api_headers).json)

    assert set(listed) == {1, 2, 3}
    records = simulator.state.trainings_of(5)
    latest_laser = max((r for r in records if r["trainingCourse"] == 2), key=lambda r: r["date"])
    latest_print = max((r for r in records if r["trainingCourse"] == 3), key=lambda r: r["date"])
    assert (listed[2]["date"], listed[2]["until_date"]) == (latest_laser["date"], latest_laser["untilDate"])
    assert (listed[3]["date"], listed[3]["until_date"]) == (latest_print["date"], None)


def test_a_training_ending_today_is_expired_one_ending_tomorrow_is_not(client: FlaskClient, api_headers: dict[str, str]) -> None:
    tomorrow = (today_in(ZoneInfo("Europe/Prague")) + dt.timedelta(days=1)).isoformat()

    listed = client.get("/absolved_trainings/11", headers=api_headers).json

    assert [(item["id"], item["until_date"]) for item in listed] == [(4, tomorrow)]


@pytest.mark.parametrize("truthy", ["true", "1", "yes", "ON"])
def test_include_offline_adds_presence_only_archived_and_bare_courses(
    client: FlaskClient, api_headers: dict[str, str], truthy: str
) -> None:
    assert set(by_id(client.get("/absolved_trainings/6", headers=api_headers).json)) == {3}
    assert set(by_id(client.get("/absolved_trainings/8", headers=api_headers).json)) == {1}

    eva = by_id(client.get(f"/absolved_trainings/6?include_offline={truthy}", headers=api_headers).json)
    katerina = by_id(client.get(f"/absolved_trainings/8?include_offline={truthy}", headers=api_headers).json)

    assert set(eva) == {3, 7}
    assert set(katerina) == {1, 10, 11}
    assert katerina[11]["title"] == katerina[11]["cs_name"] == "Šicí stroj"


def test_include_offline_false_is_the_default(client: FlaskClient, api_headers: dict[str, str]) -> None:
    assert (
        client.get("/absolved_trainings/6?include_offline=false", headers=api_headers).json
        == client.get("/absolved_trainings/6", headers=api_headers).json
    )


def test_an_invalid_include_offline_is_400_naming_it(client: FlaskClient, api_headers: dict[str, str]) -> None:
    body = problem(client.get("/absolved_trainings/6?include_offline=maybe", headers=api_headers), 400)

    assert body["field"] == "include_offline"
    assert "include_offline" in body["detail"]


def test_absolved_of_admin_only_courses_is_shown_to_their_holder(client: FlaskClient, api_headers: dict[str, str]) -> None:
    assert 9 in by_id(client.get("/absolved_trainings/3", headers=api_headers).json)


# -- available trainings -----------------------------------------------------------


def test_available_lists_online_courses_not_held_with_personal_quiz_links(
    client: FlaskClient, api_headers: dict[str, str], bridge: Bridge, simulator: FabmanSimulator
) -> None:
    response = client.get("/available_trainings/1", headers=api_headers)

    assert response.status_code == 200
    offered = by_id(response.json)
    assert set(offered) == ONLINE - {1}  # holds safety; laser expired so it is offered again
    titles = [item["title"] for item in response.json]
    assert titles == sorted(titles, key=str.casefold)
    for course_id, item in offered.items():
        cm_url = simulator.state.course(course_id)["metadata"]["courses_cm"]["cm_url"]
        assert item["quiz_url"].startswith(cm_url + "&cm_user_id=")
        token = token_of(item["quiz_url"])
        assert len(token) <= 100
        assert bridge.codec.decode(token) == QuizIdentity(1, course_id)
        assert (item["attempts"], item["attempts_left"]) == (0, 5 if course_id == 4 else 3)
    assert offered[2]["cs_name"] == "Laserová řezačka" and offered[2]["en_name"] == "Laser cutter"


def test_admin_only_courses_are_offered_to_admins_and_owners(
    client: FlaskClient, api_headers: dict[str, str], simulator: FabmanSimulator
) -> None:
    assert 9 in by_id(client.get("/available_trainings/4", headers=api_headers).json)  # admin
    assert 9 not in by_id(client.get("/available_trainings/1", headers=api_headers).json)

    simulator.state.set_privileges(1, "owner")

    assert 9 in by_id(client.get("/available_trainings/1", headers=api_headers).json)


def test_out_of_attempts_means_no_quiz_link(client: FlaskClient, api_headers: dict[str, str]) -> None:
    offered = by_id(client.get("/available_trainings/2", headers=api_headers).json)

    laser, cnc = offered[2], offered[4]
    assert (laser["attempts"], laser["attempts_left"], laser["quiz_url"]) == (3, 0, None)
    assert (cnc["attempts"], cnc["max_attempts"], cnc["attempts_left"]) == (2, 5, 3)
    assert cnc["quiz_url"].startswith(QUIZ_PREFIX)


def test_a_courses_own_max_attempts_can_run_out_too(client: FlaskClient, api_headers: dict[str, str]) -> None:
    offered = by_id(client.get("/available_trainings/13", headers=api_headers).json)

    assert (offered[4]["attempts"], offered[4]["attempts_left"], offered[4]["quiz_url"]) == (5, 0, None)
    assert (offered[5]["attempts"], offered[5]["attempts_left"]) == (1, 2)
    assert offered[5]["quiz_url"] is not None


def test_max_course_attempts_sets_the_default_but_not_a_courses_own(
    make_app: Callable[..., Flask], api_headers: dict[str, str]
) -> None:
    client = make_app(MAX_COURSE_ATTEMPTS="4").test_client()

    offered = by_id(client.get("/available_trainings/2", headers=api_headers).json)

    assert (offered[2]["attempts_left"], offered[2]["max_attempts"]) == (1, 4)
    assert offered[2]["quiz_url"] is not None
    assert (offered[4]["attempts_left"], offered[4]["max_attempts"]) == (3, 5)


def test_a_member_holding_every_online_course_has_nothing_available(client: FlaskClient, api_headers: dict[str, str]) -> None:
    assert client.get("/available_trainings/10", headers=api_headers).json == []


@pytest.mark.parametrize(("zone", "expired"), [("Pacific/Kiritimati", True), ("Pacific/Pago_Pago", False)])
def test_today_is_taken_in_the_configured_timezone(
    make_app: Callable[..., Flask], simulator: FabmanSimulator, api_headers: dict[str, str], zone: str, expired: bool
) -> None:
    # Kiritimati (UTC+14) is always at least a day ahead of Pago Pago (UTC-11).
    member_id = simulator.state.add_member("Test", "Zóna", "zona@example.org")["id"]
    ends = today_in(ZoneInfo("Pacific/Kiritimati")).isoformat()
    simulator.state.add_training(member_id, 2, "2025-01-01", ends)
    client = make_app(TIMEZONE=zone).test_client()

    absolved = by_id(client.get(f"/absolved_trainings/{member_id}", headers=api_headers).json)
    available = by_id(client.get(f"/available_trainings/{member_id}", headers=api_headers).json)

    assert (2 in absolved) is not expired
    assert (2 in available) is expired


# -- training links -----------------------------------------------------------------


def test_training_links_give_the_quiz_link_and_materials(
    client: FlaskClient, api_headers: dict[str, str], bridge: Bridge, simulator: FabmanSimulator
) -> None:
    response = client.post("/get_training_links", json={"member_id": 1, "training_id": 2}, headers=api_headers)

    assert response.status_code == 200
    links = response.json
    settings = simulator.state.course(2)["metadata"]["courses_cm"]
    assert {key: links[key] for key in ("title", "cs_name", "en_name", "wiki_url", "yt_url", "attempts_left")} == {
        "title": "Laserová řezačka",
        "cs_name": settings["cs_name"],
        "en_name": settings["en_name"],
        "wiki_url": settings["wiki_url"],
        "yt_url": settings["yt_url"],
        "attempts_left": 3,
    }
    assert links["quiz_url"].startswith(settings["cm_url"] + "&cm_user_id=")
    assert len(token_of(links["quiz_url"])) <= 100
    assert bridge.codec.decode(token_of(links["quiz_url"])) == QuizIdentity(1, 2)


@pytest.mark.parametrize(
    "body",
    [{"member_id": "1", "training_id": "2"}, {"member_id": " 1 ", "training_id": 2}, {"member_id": 1, "training_id": "0002"}],
)
def test_ids_may_come_as_digit_strings(
    client: FlaskClient, api_headers: dict[str, str], bridge: Bridge, body: dict[str, Any]
) -> None:
    response = client.post("/get_training_links", json=body, headers=api_headers)

    assert response.status_code == 200
    assert bridge.codec.decode(token_of(response.json["quiz_url"])) == QuizIdentity(1, 2)


def test_training_links_without_attempts_left_have_no_quiz_url(client: FlaskClient, api_headers: dict[str, str]) -> None:
    links = client.post("/get_training_links", json={"member_id": 2, "training_id": 2}, headers=api_headers).json

    assert (links["quiz_url"], links["attempts_left"]) == (None, 0)
    assert links["wiki_url"].startswith("https://")


def test_missing_names_fall_back_to_the_title_and_missing_links_are_null(
    client: FlaskClient, api_headers: dict[str, str]
) -> None:
    links = client.post("/get_training_links", json={"member_id": 1, "training_id": 12}, headers=api_headers).json

    assert (links["cs_name"], links["en_name"]) == ("Vakuová formovačka", "Vakuová formovačka")
    assert (links["wiki_url"], links["yt_url"]) == (None, None)
    assert links["quiz_url"] is not None


def test_a_presence_only_course_has_materials_but_no_quiz(client: FlaskClient, api_headers: dict[str, str]) -> None:
    links = client.post("/get_training_links", json={"member_id": 1, "training_id": 7}, headers=api_headers).json

    assert links["quiz_url"] is None
    assert links["en_name"] == "Bench lathe"


MISSING_FIELDS = [
    ({}, "member_id"),
    ({"training_id": 2}, "member_id"),
    ({"member_id": 1}, "training_id"),
    ({"member_id": None, "training_id": 2}, "member_id"),
    ({"member_id": 1, "training_id": ""}, "training_id"),
]
INVALID_FIELDS = [
    ({"member_id": "abc", "training_id": 2}, "member_id"),
    ({"member_id": -1, "training_id": 2}, "member_id"),
    ({"member_id": 0, "training_id": 2}, "member_id"),
    ({"member_id": 1.5, "training_id": 2}, "member_id"),
    ({"member_id": True, "training_id": 2}, "member_id"),
    ({"member_id": [1], "training_id": 2}, "member_id"),
    ({"member_id": 1, "training_id": "1e3"}, "training_id"),
    ({"member_id": 1, "training_id": "\u0663"}, "training_id"),  # an Arabic-Indic digit
    ({"member_id": 1, "training_id": {"id": 2}}, "training_id"),
    ({"member_id": 1, "training_id": 2**40}, "training_id"),
]
NOT_JSON_OBJECTS = [
    ("member_id=1&training_id=2", "application/x-www-form-urlencoded"),
    ("{not json", "application/json"),
    ("[1, 2]", "application/json"),
    ('"text"', "application/json"),
    ("", "application/json"),
    (b"\xff\xfe", "application/json"),
]


def test_a_missing_field_is_400_naming_it(client: FlaskClient, api_headers: dict[str, str], simulator: FabmanSimulator) -> None:
    for body, field in MISSING_FIELDS:
        answer = problem(client.post("/get_training_links", json=body, headers=api_headers), 400)

        assert answer["field"] == field, body
        assert field in answer["detail"]
    assert simulator.requests == []


def test_an_invalid_field_is_422_naming_it(client: FlaskClient, api_headers: dict[str, str], simulator: FabmanSimulator) -> None:
    for body, field in INVALID_FIELDS:
        answer = problem(client.post("/get_training_links", json=body, headers=api_headers), 422)

        assert answer["field"] == field, body
        assert field in answer["detail"]
    assert simulator.requests == []


def test_a_body_that_is_not_a_json_object_is_400(
    client: FlaskClient, api_headers: dict[str, str], simulator: FabmanSimulator
) -> None:
    for data, content_type in NOT_JSON_OBJECTS:
        response = client.post("/get_training_links", data=data, content_type=content_type, headers=api_headers)

        assert response.status_code == 400, data
        problem(response, 400)
    assert simulator.requests == []


# -- unknown ids ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/absolved_trainings/999", None),
        ("GET", "/absolved_training/999", None),
        ("GET", "/available_trainings/999", None),
        ("POST", "/get_training_links", {"member_id": 999, "training_id": 2}),
        ("POST", "/get_training_links", {"member_id": 1, "training_id": 999}),
    ],
)
def test_an_unknown_member_or_course_is_404(
    client: FlaskClient, api_headers: dict[str, str], method: str, path: str, body: Any
) -> None:
    answer = problem(client.open(path, method=method, json=body, headers=api_headers), 404)

    assert "999" in answer["detail"]


def test_an_admin_only_course_is_not_found_for_a_member(client: FlaskClient, api_headers: dict[str, str]) -> None:
    problem(client.post("/get_training_links", json={"member_id": 1, "training_id": 9}, headers=api_headers), 404)

    links = client.post("/get_training_links", json={"member_id": 4, "training_id": 9}, headers=api_headers)
    assert links.status_code == 200 and links.json["quiz_url"] is not None


# -- Fabman failing -------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_fabman_down_is_503_never_200(
    client: FlaskClient, api_headers: dict[str, str], simulator: FabmanSimulator, method: str, path: str, body: Any
) -> None:
    simulator.faults.down = True

    answer = problem(client.open(path, method=method, json=body, headers=api_headers), 503)

    assert "Fabman" in answer["title"]
    assert len(simulator.requests) == 3  # one try and two retries


def test_fabman_failing_with_500_is_502(client: FlaskClient, api_headers: dict[str, str], simulator: FabmanSimulator) -> None:
    simulator.faults.fail_next(3, 500, path_contains="/members/1")

    problem(client.get("/available_trainings/1", headers=api_headers), 502)


def test_fabman_refusing_the_bridges_key_is_502(
    client: FlaskClient, api_headers: dict[str, str], simulator: FabmanSimulator
) -> None:
    simulator.faults.fail_next(1, 401, path_contains="/members/1")

    answer = problem(client.get("/absolved_trainings/1", headers=api_headers), 502)

    assert simulator.api_key not in str(answer)


def test_a_passing_hiccup_is_retried_and_answered(
    client: FlaskClient, api_headers: dict[str, str], simulator: FabmanSimulator
) -> None:
    simulator.faults.fail_next(1, 503, path_contains="/members/1")

    response = client.get("/absolved_trainings/1", headers=api_headers)

    assert response.status_code == 200 and [item["id"] for item in response.json] == [1]
    assert [r.status for r in simulator.requests] == [503, 200]


def test_fabman_too_slow_is_504(make_app: Callable[..., Flask], api_headers: dict[str, str], simulator: FabmanSimulator) -> None:
    client = make_app(FABMAN_TIMEOUT_SECONDS="0.2").test_client()
    simulator.faults.hang_seconds = 5

    answer = problem(client.get("/available_trainings/1", headers=api_headers), 504)

    assert "time" in answer["detail"]


def test_the_course_list_failing_is_an_error_not_an_empty_list(
    client: FlaskClient, api_headers: dict[str, str], simulator: FabmanSimulator
) -> None:
    simulator.faults.fail_next(3, 503, path_contains="/training-courses")

    problem(client.get("/available_trainings/1", headers=api_headers), 503)


# -- Fabman traffic: the warm cache ------------------------------------------------------------


def many_courses(count: int, page_limit: int) -> SimState:
    """A FabLab with `count` online courses, served `page_limit` to a page, and one member holding course 1."""
    state = SimState(max_limit=page_limit)
    for number in range(1, count + 1):
        state.add_course(f"Kurz {number:03d}", metadata={"courses_cm": {"cm_url": f"{QUIZ_PREFIX}q{number}"}})
    member_id = state.add_member("Petra", "Dvořáková", "petra@example.org")["id"]
    state.add_training(member_id, 1, "2026-01-01", None)
    return state


@pytest.mark.e2e
def test_a_warm_available_request_costs_one_fabman_call_across_many_course_pages(
    make_app: Callable[..., Flask], bridge: Bridge
) -> None:
    with FabmanSimulator(many_courses(120, page_limit=50)) as fabman:
        client = make_app(FABMAN_API_URL=fabman.base_url, FABMAN_API_KEY=fabman.api_key).test_client()
        headers = {"Authorization": fabman.api_key}

        cold = client.get("/available_trainings/1", headers=headers)
        cold_calls = fabman.requests
        fabman.clear_requests()
        warm = client.get("/available_trainings/1", headers=headers)
        warm_calls = fabman.requests

    assert [(r.path, parse_qs(r.query).get("offset")) for r in cold_calls] == [
        ("/members/1", None),
        ("/training-courses", None),
        ("/training-courses", ["50"]),
        ("/training-courses", ["100"]),
    ]
    assert [(r.method, r.path) for r in warm_calls] == [("GET", "/members/1")]
    assert len(cold.json) == len(warm.json) == 119
    assert {item["id"] for item in warm.json} == set(range(2, 121))


def test_a_warm_profile_page_costs_one_call_per_request(
    client: FlaskClient, api_headers: dict[str, str], simulator: FabmanSimulator
) -> None:
    client.get("/available_trainings/2", headers=api_headers)  # warms the course cache
    simulator.clear_requests()

    client.get("/absolved_trainings/1", headers=api_headers)
    client.get("/available_trainings/1", headers=api_headers)
    client.post("/get_training_links", json={"member_id": 1, "training_id": 2}, headers=api_headers)

    assert fabman_calls(simulator) == ["GET /members/1"] * 3


def test_with_the_cache_off_every_request_reads_the_courses(
    make_app: Callable[..., Flask], api_headers: dict[str, str], simulator: FabmanSimulator
) -> None:
    client = make_app(COURSES_CACHE_SECONDS="0").test_client()

    client.get("/available_trainings/1", headers=api_headers)
    client.get("/available_trainings/1", headers=api_headers)

    assert fabman_calls(simulator) == ["GET /members/1", "GET /training-courses"] * 2


def test_a_course_added_in_fabman_is_found_without_waiting_for_the_cache(
    client: FlaskClient, api_headers: dict[str, str], simulator: FabmanSimulator
) -> None:
    client.get("/available_trainings/1", headers=api_headers)
    new = simulator.state.add_course("Nový kurz", metadata={"courses_cm": {"cm_url": QUIZ_PREFIX + "new"}})

    links = client.post("/get_training_links", json={"member_id": 1, "training_id": new["id"]}, headers=api_headers)

    assert links.status_code == 200
    assert links.json["title"] == "Nový kurz"


def test_services_are_per_app(make_app: Callable[..., Flask]) -> None:
    assert bridge_of(make_app()).fabman is not bridge_of(make_app()).fabman
