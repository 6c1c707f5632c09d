"""GET /training_overview/<member_id> (contract section 14) against the seeded Fabman simulator.

Each state of the table comes from a seeded member (sandbox/simulator/seed.py):
1 Petra (safety held, laser expired), 2 Jan (out of attempts on laser),
6 Eva (no safety, so the vacuum former needs it first), 9 Ondřej (vinyl, which renews on
use, and safety both end within REMINDER_DAYS), 3 Tomáš (owner: the
admin-only course), 8 Kateřina (a record of the archived course). A waiting
period is set in Fabman the way a counted failure leaves it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from bridge.adapters.codec import QuizIdentity
from bridge.application import Bridge
from bridge.clock import SettableClock
from bridge.domain.statuses import CourseState
from sandbox.simulator import FabmanSimulator
from tests.e2e.test_api_docs import schema_validator, spec  # noqa: F401 - spec is a fixture
from tests.e2e.test_profile import ENDPOINTS, WRONG_AUTHORIZATIONS, by_id, fabman_calls, token_of
from tests.support import problem

SAFETY, LASER, PRINTER, CNC, VINYL, SOLDERING, LATHE, WELDING, SUPERVISOR, ARCHIVED, SEWING, VACUUM = range(1, 13)
FIELDS = [
    "id", "title", "cs_name", "en_name", "state", "until_date", "quiz_url",
    "attempts_left", "available_at", "missing", "next_step",
]  # fmt: skip


def overview(client: FlaskClient, headers: dict[str, str], member_id: int) -> dict[int, dict[str, Any]]:
    response = client.get(f"/training_overview/{member_id}", headers=headers)
    assert response.status_code == 200, response.json
    assert all(list(item) == FIELDS for item in response.json)
    return by_id(response.json)


def until_of(simulator: FabmanSimulator, member_id: int, course_id: int) -> str:
    records = [r for r in simulator.state.trainings_of(member_id) if r["trainingCourse"] == course_id]
    return str(max(r["untilDate"] for r in records))


def test_petra_holds_safety_her_laser_expired_and_the_rest_is_open_or_in_person(
    client: FlaskClient, api_headers: dict[str, str], bridge: Bridge, simulator: FabmanSimulator
) -> None:
    courses = overview(client, api_headers, 1)

    assert {course_id: item["state"] for course_id, item in courses.items()} == {
        SAFETY: "held",
        LASER: "expired",
        PRINTER: "available",
        CNC: "available",
        VINYL: "available",
        SOLDERING: "available",
        LATHE: "in_person",
        WELDING: "in_person",
        SEWING: "in_person",  # no quiz URL: presence-only in practice
        VACUUM: "available",  # she holds the safety course it requires
    }  # no admin-only course for a member, no archived course she never held
    safety, laser, printer, lathe = courses[SAFETY], courses[LASER], courses[PRINTER], courses[LATHE]
    safety_until = dt.date.fromisoformat(until_of(simulator, 1, SAFETY))
    assert (safety["quiz_url"], safety["until_date"]) == (None, safety_until.isoformat())
    assert safety["next_step"] == {
        "cs": f"Školení máte platné do {safety_until.day}. {safety_until.month}. {safety_until.year}.",
        "en": f"You hold this training until {safety_until.day} {safety_until:%B} {safety_until.year}.",
    }
    ended = dt.date.fromisoformat(until_of(simulator, 1, LASER))
    assert laser["until_date"] == ended.isoformat()
    assert bridge.codec.decode(token_of(laser["quiz_url"])) == QuizIdentity(1, LASER)
    assert laser["next_step"]["en"] == f"Expired on {ended.day} {ended:%B} {ended.year}; retake the quiz here."
    assert laser["next_step"]["cs"] == f"Platnost skončila {ended.day}. {ended.month}. {ended.year}; zopakujte test zde."
    assert bridge.codec.decode(token_of(printer["quiz_url"])) == QuizIdentity(1, PRINTER)
    assert printer["next_step"] == {"cs": "Absolvujte test zde.", "en": "Take the quiz here."}
    assert (printer["attempts_left"], printer["available_at"], printer["missing"]) == (3, None, [])
    assert (lathe["quiz_url"], lathe["attempts_left"]) == (None, 0)
    assert lathe["next_step"]["en"] == "Come in person; this training is given only at the FabLab."
    assert courses[SAFETY]["en_name"] == "Workshop safety" and courses[VACUUM]["en_name"] == "Vakuová formovačka"
    titles = [item["title"] for item in courses.values()]
    assert titles == sorted(titles, key=str.casefold)
    assert fabman_calls(simulator) == ["GET /members/1", "GET /training-courses"]


def test_no_attempts_left_means_ask_staff_and_no_link(client: FlaskClient, api_headers: dict[str, str]) -> None:
    jan, daniel = overview(client, api_headers, 2), overview(client, api_headers, 13)

    assert (jan[LASER]["state"], jan[LASER]["quiz_url"], jan[LASER]["attempts_left"]) == ("out_of_attempts", None, 0)
    assert jan[LASER]["next_step"] == {
        "cs": "Nemáte žádné pokusy; požádejte obsluhu dílny o jejich obnovení.",
        "en": "You have no attempts left; ask staff to reset them.",
    }
    assert (jan[CNC]["state"], jan[CNC]["attempts_left"]) == ("available", 3)
    assert daniel[CNC]["state"] == "out_of_attempts"


def test_a_missing_required_course_is_named_and_offers_no_link(client: FlaskClient, api_headers: dict[str, str]) -> None:
    eva = overview(client, api_headers, 6)

    vacuum = eva[VACUUM]
    assert (vacuum["state"], vacuum["quiz_url"], vacuum["missing"]) == ("needs_prerequisite", None, [SAFETY])
    assert vacuum["next_step"] == {"cs": "Nejdříve absolvujte Bezpečnost v dílně.", "en": "Take Workshop safety first."}
    assert eva[SAFETY]["state"] == "available"
    assert (eva[PRINTER]["state"], eva[PRINTER]["until_date"]) == ("held", None)
    assert eva[PRINTER]["next_step"]["en"] == "You hold this training; it does not expire."
    assert eva[LATHE]["state"] == "held"  # a presence-only training she holds


def test_trainings_ending_within_the_reminder_window_are_expiring_with_a_retake_link(
    client: FlaskClient, api_headers: dict[str, str], bridge: Bridge, simulator: FabmanSimulator
) -> None:
    ondrej = overview(client, api_headers, 9)

    safety, vinyl = ondrej[SAFETY], ondrej[VINYL]
    assert (safety["state"], vinyl["state"]) == ("expiring", "expiring")
    assert bridge.codec.decode(token_of(safety["quiz_url"])) == QuizIdentity(9, SAFETY)
    ends = dt.date.fromisoformat(until_of(simulator, 9, VINYL))
    assert vinyl["until_date"] == ends.isoformat()
    assert vinyl["next_step"]["en"] == f"Expires on {ends.day} {ends:%B} {ends.year} unless you use the machine before then."
    assert safety["next_step"]["en"].endswith("; retake the quiz here.")


def test_reminder_days_decide_between_held_and_expiring(make_app: Callable[..., Flask], api_headers: dict[str, str]) -> None:
    ondrej = overview(make_app(REMINDER_DAYS="3").test_client(), api_headers, 9)

    assert (ondrej[SAFETY]["state"], ondrej[VINYL]["state"]) == ("expiring", "held")
    assert ondrej[VINYL]["next_step"]["en"].endswith(", and each use of the machine extends it.")


def test_while_a_waiting_period_runs_the_member_is_told_when_to_come_back(
    make_app: Callable[..., Flask], api_headers: dict[str, str], simulator: FabmanSimulator
) -> None:
    failed = dt.datetime(2026, 12, 9, 13, 0, tzinfo=dt.UTC)  # a Wednesday, 14:00 in Prague
    clock = SettableClock(failed + dt.timedelta(hours=2))
    member = simulator.state.member(1)
    entry = {"id": PRINTER, "title": "3D tisk – Prusa", "attempts": 1, "last_failed_at": failed.isoformat()}
    simulator.state.update_member(1, {"metadata": {"courses_cm": {"failed_courses": [entry]}}}, member["lockVersion"])
    client = make_app(clock=clock, COOLDOWN_HOURS="24").test_client()

    printer = overview(client, api_headers, 1)[PRINTER]

    assert (printer["state"], printer["quiz_url"], printer["attempts_left"]) == ("waiting", None, 2)
    assert printer["available_at"] == "2026-12-10T14:00:00+01:00"
    assert printer["next_step"] == {
        "cs": "Další pokus je možný od čtvrtka 10. 12. 2026 14:00.",
        "en": "Wait until Thursday 10 December 2026 14:00 for your next attempt.",
    }
    clock.advance(hours=23)
    assert overview(client, api_headers, 1)[PRINTER]["state"] == "available"


def test_admin_only_courses_for_admins_and_archived_ones_only_where_a_record_was_held(
    client: FlaskClient, api_headers: dict[str, str]
) -> None:
    assert SUPERVISOR not in overview(client, api_headers, 1)
    assert overview(client, api_headers, 3)[SUPERVISOR]["state"] == "held"
    assert overview(client, api_headers, 4)[SUPERVISOR]["state"] == "available"
    katerina = overview(client, api_headers, 8)
    assert katerina[ARCHIVED]["state"] == "held"  # archived, but her record is still valid
    assert katerina[ARCHIVED]["quiz_url"] is None
    assert ARCHIVED not in overview(client, api_headers, 1)


def test_every_state_of_the_table_is_reached_by_the_seed(
    make_app: Callable[..., Flask], api_headers: dict[str, str], simulator: FabmanSimulator
) -> None:
    client = make_app().test_client()
    seen = {item["state"] for member_id in range(1, 14) for item in overview(client, api_headers, member_id).values()}
    cooled = simulator.state.member(2)
    jan_cnc = {"id": CNC, "title": "CNC frézka", "attempts": 2, "last_failed_at": dt.datetime.now(dt.UTC).isoformat()}
    simulator.state.update_member(2, {"metadata": {"courses_cm": {"failed_courses": [jan_cnc]}}}, cooled["lockVersion"])
    seen |= {item["state"] for item in overview(make_app(COOLDOWN_HOURS="1").test_client(), api_headers, 2).values()}

    assert seen == set(CourseState)


def test_overview_needs_the_api_key_and_knows_unknown_members(
    client: FlaskClient, api_headers: dict[str, str], simulator: FabmanSimulator
) -> None:
    assert ("GET", "/available_trainings/1", None) in ENDPOINTS  # the same keys as the other profile endpoints
    for authorization in WRONG_AUTHORIZATIONS:
        headers = {} if authorization is None else {"Authorization": authorization}
        problem(client.get("/training_overview/1", headers=headers), 401)
    assert simulator.requests == []

    assert "9999" in problem(client.get("/training_overview/9999", headers=api_headers), 404)["detail"]


def test_fabman_down_is_503_and_failing_is_502(
    client: FlaskClient, api_headers: dict[str, str], simulator: FabmanSimulator
) -> None:
    simulator.faults.fail_next(3, 500, path_contains="/members/1")
    problem(client.get("/training_overview/1", headers=api_headers), 502)

    simulator.faults.down = True
    problem(client.get("/training_overview/1", headers=api_headers), 503)


def test_swagger_documents_the_overview_and_the_statistics_as_they_answer(
    client: FlaskClient,
    api_headers: dict[str, str],
    spec: dict[str, Any],  # noqa: F811
) -> None:
    for path, answer in (
        ("/training_overview/{member_id}", client.get("/training_overview/9", headers=api_headers)),
        ("/admin/stats", client.get("/admin/stats", headers=api_headers)),
    ):
        operation = spec["paths"][path]["get"]
        assert {"200", "401"} <= set(operation["responses"]) and operation["security"] == [{"FabmanApiKey": []}]
        schema_validator(spec, operation["responses"]["200"]["content"]["application/json"]["schema"]).validate(answer.json)
    overview = spec["components"]["schemas"]["CourseOverview"]
    assert overview["properties"]["state"]["enum"] == [state.value for state in CourseState]
    assert set(overview["required"]) == set(FIELDS)
    schema_validator(spec, {"$ref": "#/components/schemas/CourseOverview"}).validate(overview["example"])
    schema_validator(spec, {"$ref": "#/components/schemas/CourseMonth"}).validate(
        spec["components"]["schemas"]["CourseMonth"]["example"]
    )
    links = spec["components"]["schemas"]["TrainingLinks"]["properties"]
    assert links["missing"] == {"type": "array", "items": {"type": "integer"}, "description": links["missing"]["description"]}
