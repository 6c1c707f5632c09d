"""Equipment, the courses that unlock it and the activity log, as the Fabman API notes describe them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from urllib.parse import urljoin

import pytest
import requests

from sandbox.simulator import FabmanSimulator, SimState, demo_state
from sandbox.simulator.state import UnknownRecordError

TODAY = date(2025, 3, 15)
TIMEOUT = 5
PETRA = 1
LASER_COURSE = 2
LASER_CUTTER = 1


@pytest.fixture
def sim() -> Iterator[FabmanSimulator]:
    with FabmanSimulator(demo_state(TODAY)) as simulator:
        yield simulator


@pytest.fixture
def http(sim: FabmanSimulator) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {sim.api_key}"
        yield session


def api(sim: FabmanSimulator, path: str) -> str:
    return sim.base_url + path


def all_pages(session: requests.Session, sim: FabmanSimulator, url: str) -> tuple[list[dict[str, object]], int]:
    """Every record behind a list URL, following rel="next"; also how many pages it took."""
    records: list[dict[str, object]] = []
    pages = 0
    while url:
        page = session.get(url, timeout=TIMEOUT)
        assert page.status_code == 200
        records += page.json()
        pages += 1
        next_link = page.links.get("next", {}).get("url")
        url = urljoin(sim.base_url, next_link) if next_link else ""
    return records, pages


# -- equipment --------------------------------------------------------------


@pytest.mark.e2e
def test_equipment_is_fetched_by_id(sim: FabmanSimulator, http: requests.Session) -> None:
    laser_cutter = http.get(api(sim, f"/resources/{LASER_CUTTER}"), timeout=TIMEOUT)
    missing = http.get(api(sim, "/resources/999"), timeout=TIMEOUT)
    anonymous = requests.get(api(sim, f"/resources/{LASER_CUTTER}"), timeout=TIMEOUT)

    assert laser_cutter.status_code == 200
    assert {key: laser_cutter.json()[key] for key in ("id", "name", "state")} == {
        "id": LASER_CUTTER,
        "name": "Laserová řezačka",
        "state": "active",
    }
    assert missing.status_code == 404
    assert anonymous.status_code == 401


@pytest.mark.e2e
def test_equipment_list_is_paginated_and_searchable() -> None:
    state = SimState()
    for number in range(1, 121):
        state.add_resource(f"Stroj {number}", state="locked" if number % 10 == 0 else "active")
    with FabmanSimulator(state) as sim, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {sim.api_key}"
        first = session.get(api(sim, "/resources"), timeout=TIMEOUT)
        everything, pages = all_pages(session, sim, api(sim, "/resources"))
        found = session.get(api(sim, "/resources"), params={"q": "stroj 12"}, timeout=TIMEOUT).json()

    assert first.headers["X-Total-Count"] == "120"
    assert first.headers["Link"] == '</api/v1/resources?limit=50&offset=50>; rel="next"'
    assert [resource["id"] for resource in everything] == list(range(1, 121))
    assert pages == 3
    assert sum(resource["state"] == "locked" for resource in everything) == 12
    assert [resource["name"] for resource in found] == ["Stroj 12", "Stroj 120"]


# -- training courses unlock equipment ---------------------------------------


@pytest.mark.e2e
def test_course_json_lists_the_equipment_it_unlocks(sim: FabmanSimulator, http: requests.Session) -> None:
    laser = http.get(api(sim, f"/training-courses/{LASER_COURSE}"), timeout=TIMEOUT).json()
    safety = http.get(api(sim, "/training-courses/1"), timeout=TIMEOUT).json()
    listed = http.get(api(sim, "/training-courses"), timeout=TIMEOUT).json()
    embedded = http.get(api(sim, f"/members/{PETRA}/trainings?embed=trainingCourse"), timeout=TIMEOUT).json()

    assert laser["resources"] == [LASER_CUTTER]
    assert safety["resources"] == []
    assert all(isinstance(course["resources"], list) for course in listed)
    courses = [record["_embedded"]["trainingCourse"] for record in embedded]
    assert {course["id"]: course["resources"] for course in courses} == {1: [], LASER_COURSE: [LASER_CUTTER]}


def test_a_course_unlocks_only_known_equipment() -> None:
    state = SimState()
    printer = state.add_resource("3D tiskárna")

    course = state.add_course("3D tisk", resources=[printer["id"]])
    with pytest.raises(UnknownRecordError):
        state.add_course("Laser", resources=[printer["id"], 99])

    assert course["resources"] == [printer["id"]]
    assert [c["title"] for c in state.courses()] == ["3D tisk"]


def test_demo_seed_lets_petra_be_refused_at_the_laser_cutter() -> None:
    state = demo_state(TODAY)
    unlocking = {course["id"] for course in state.courses() if LASER_CUTTER in course["resources"]}
    petra_laser = [record for record in state.trainings_of(PETRA) if record["trainingCourse"] in unlocking]

    assert state.member(PETRA)["firstName"] == "Petra"
    assert state.resource(LASER_CUTTER)["name"] == "Laserová řezačka"
    assert unlocking == {LASER_COURSE}
    assert petra_laser
    assert all(record["untilDate"] is not None and record["untilDate"] < TODAY.isoformat() for record in petra_laser)
    assert [state.resource(course["resources"][0])["name"] for course in state.courses() if course["resources"]] == [
        "Laserová řezačka",
        "3D tiskárna Prusa",
        "CNC frézka",
        "Vinylový řezací plotr",
        "Stolní soustruh",
    ]


# -- activity log -------------------------------------------------------------


def test_a_refusal_is_logged_with_its_reason() -> None:
    state = demo_state(TODAY)

    refused = state.add_resource_log(PETRA, LASER_CUTTER)
    allowed = state.add_resource_log(3, LASER_CUTTER, type="allowed", created_at="2025-03-15T10:00:00.000Z")
    stranger = state.add_resource_log(None, LASER_CUTTER, reason="memberInactive")

    assert {key: refused[key] for key in ("id", "type", "reason", "member", "resource")} == {
        "id": 1,
        "type": "denied",
        "reason": "noPermission",
        "member": PETRA,
        "resource": LASER_CUTTER,
    }
    assert refused["createdAt"].endswith("Z")
    assert (allowed["type"], allowed["reason"], allowed["createdAt"]) == ("allowed", None, "2025-03-15T10:00:00.000Z")
    assert (stranger["member"], stranger["reason"]) == (None, "memberInactive")
    assert state.resource_logs() == [refused, allowed, stranger]
    assert state.counts()["resourceLogs"] == 3


def test_a_log_entry_needs_known_member_and_equipment() -> None:
    state = demo_state(TODAY)

    with pytest.raises(UnknownRecordError):
        state.add_resource_log(999, LASER_CUTTER)
    with pytest.raises(UnknownRecordError):
        state.add_resource_log(PETRA, 999)

    assert state.resource_logs() == []


@pytest.mark.e2e
def test_activity_log_is_listed_over_http_page_by_page(sim: FabmanSimulator, http: requests.Session) -> None:
    for _ in range(60):
        sim.state.add_resource_log(PETRA, LASER_CUTTER)
    sim.state.add_resource_log(3, LASER_CUTTER, type="allowed")

    first = http.get(api(sim, "/resource-logs"), timeout=TIMEOUT)
    everything, pages = all_pages(http, sim, api(sim, "/resource-logs"))
    newest = http.get(api(sim, "/resource-logs"), params={"order": "desc", "limit": 1}, timeout=TIMEOUT).json()

    assert first.headers["X-Total-Count"] == "61"
    assert pages == 2
    assert everything == sim.state.resource_logs()
    assert [(entry["type"], entry["reason"], entry["member"]) for entry in newest] == [("allowed", None, 3)]
