"""The Fabman simulator behaves as the Fabman API notes say, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from urllib.parse import urljoin

import pytest
import requests

from sandbox.simulator import FabmanSimulator, SimState, demo_state

pytestmark = pytest.mark.e2e

pytestmark = pytest.mark.e2e

TODAY = date(2025, 3, 15)
TIMEOUT = 5


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


def control(sim: FabmanSimulator, path: str) -> str:
    return f"{sim.root_url}/_sim{path}"


def crowd(size: int) -> SimState:
    state = SimState()
    for number in range(1, size + 1):
        state.add_member("Člen", f"Číslo {number}", f"clen{number}@example.org")
    return state


# -- lists and pagination -------------------------------------------------


def test_pagination_follows_relative_next_links_to_every_member() -> None:
    with FabmanSimulator(crowd(120)) as sim, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {sim.api_key}"
        first = session.get(api(sim, "/members"), timeout=TIMEOUT)
        assert first.status_code == 200
        assert first.headers["X-Total-Count"] == "120"
        assert first.headers["Link"] == '</api/v1/members?limit=50&offset=50>; rel="next"'

        ids, url, pages = [], api(sim, "/members?embed=privileges"), 0
        while url:
            page = session.get(url, timeout=TIMEOUT)
            ids += [member["id"] for member in page.json()]
            assert all(member["_embedded"]["privileges"] == {"privileges": "member"} for member in page.json())
            next_link = page.links.get("next", {}).get("url")
            url = urljoin(sim.base_url, next_link) if next_link else ""
            pages += 1

    assert ids == list(range(1, 121))
    assert pages == 3
    assert "Link" not in page.headers


def test_limit_above_the_maximum_is_clamped() -> None:
    state = crowd(120)
    state.max_limit = 100
    with FabmanSimulator(state) as sim, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {sim.api_key}"
        page = session.get(api(sim, "/members?limit=5000&embed=trainings"), timeout=TIMEOUT)
        bad = session.get(api(sim, "/members?limit=abc"), timeout=TIMEOUT)

    assert len(page.json()) == 100
    assert page.headers["Link"] == '</api/v1/members?limit=100&offset=100&embed=trainings>; rel="next"'
    assert bad.status_code == 400


def test_search_and_order(sim: FabmanSimulator, http: requests.Session) -> None:
    found = http.get(api(sim, "/members"), params={"q": "dvořák"}, timeout=TIMEOUT)
    by_name = http.get(api(sim, "/members"), params={"orderBy": "lastName", "order": "desc"}, timeout=TIMEOUT)

    assert [member["id"] for member in found.json()] == [1, 7]
    assert found.headers["X-Total-Count"] == "2"
    last_names = [member["lastName"] for member in by_name.json()]
    assert last_names == sorted(last_names, reverse=True)


def test_training_courses_are_listed_and_fetched(sim: FabmanSimulator, http: requests.Session) -> None:
    courses = http.get(api(sim, "/training-courses"), timeout=TIMEOUT)
    laser = http.get(api(sim, "/training-courses/2"), timeout=TIMEOUT).json()
    missing = http.get(api(sim, "/training-courses/999"), timeout=TIMEOUT)

    assert courses.headers["X-Total-Count"] == "12"
    assert {course["state"] for course in courses.json()} == {"active", "archived"}
    assert laser["title"] == "Laserová řezačka"
    assert laser["metadata"]["courses_cm"]["cm_url"].startswith("https://www.classmarker.com/online-test/start/?quiz=")
    assert {"defaultDuration", "defaultDurationUnit", "lockVersion", "notes", "account"} <= laser.keys()
    assert missing.status_code == 404


# -- members --------------------------------------------------------------


def test_member_embeds_trainings_with_their_courses_and_privileges(sim: FabmanSimulator, http: requests.Session) -> None:
    petra = http.get(api(sim, "/members/1"), params=[("embed", "trainings"), ("embed", "privileges")], timeout=TIMEOUT).json()
    plain = http.get(api(sim, "/members/1"), timeout=TIMEOUT).json()
    owner = http.get(api(sim, "/members/3/privileges"), timeout=TIMEOUT).json()

    trainings = petra["_embedded"]["trainings"]
    assert [(t["trainingCourse"], t["_embedded"]["trainingCourse"]["title"]) for t in trainings] == [
        (1, "Bezpečnost v dílně"),
        (2, "Laserová řezačka"),
    ]
    assert trainings[1]["untilDate"] < TODAY.isoformat() < trainings[0]["untilDate"]
    assert petra["_embedded"]["privileges"] == {"privileges": "member"}
    assert "_embedded" not in plain
    assert owner == {"privileges": "owner"}


def test_member_metadata_is_null_by_default(sim: FabmanSimulator, http: requests.Session) -> None:
    created = sim.state.add_member("Nový", "Člen", "novy@example.org")

    member = http.get(api(sim, f"/members/{created['id']}"), timeout=TIMEOUT).json()

    assert "metadata" in member
    assert member["metadata"] is None
    assert member["firstName"] == "Nový"


def test_put_member_needs_the_current_lock_version(sim: FabmanSimulator, http: requests.Session) -> None:
    version = sim.state.member(2)["lockVersion"]

    stale = http.put(api(sim, "/members/2"), json={"lockVersion": version - 1, "metadata": {}}, timeout=TIMEOUT)
    missing = http.put(api(sim, "/members/2"), json={"metadata": {}}, timeout=TIMEOUT)
    updated = http.put(api(sim, "/members/2"), json={"lockVersion": version, "metadata": {"only": "this"}}, timeout=TIMEOUT)
    again = http.put(api(sim, "/members/2"), json={"lockVersion": version, "metadata": {}}, timeout=TIMEOUT)

    assert (stale.status_code, missing.status_code) == (409, 409)
    assert updated.status_code == 200
    assert updated.json()["lockVersion"] == version + 1
    assert updated.json()["metadata"] == {"only": "this"}
    assert again.status_code == 409
    assert sim.state.member(2)["metadata"] == {"only": "this"}


def test_put_member_ignores_unknown_and_read_only_fields(sim: FabmanSimulator, http: requests.Session) -> None:
    before = sim.state.member(1)

    response = http.put(
        api(sim, "/members/1"),
        json={"lockVersion": before["lockVersion"], "id": 99, "account": 7, "nickname": "x", "language": "en"},
        timeout=TIMEOUT,
    )

    after = sim.state.member(1)
    assert response.status_code == 200
    assert (after["id"], after["account"], after["language"]) == (1, before["account"], "en")
    assert "nickname" not in after
    assert http.get(api(sim, "/members/99"), timeout=TIMEOUT).status_code == 404


def test_post_and_put_need_json_content_type(sim: FabmanSimulator, http: requests.Session) -> None:
    put = http.put(api(sim, "/members/1"), data='{"lockVersion": 1}', headers={"Content-Type": "text/plain"}, timeout=TIMEOUT)
    post = http.post(api(sim, "/members/1/trainings"), data={"trainingCourse": "3"}, timeout=TIMEOUT)

    assert (put.status_code, post.status_code) == (415, 415)
    assert len(sim.state.trainings_of(1)) == 2


# -- training records --------------------------------------------------


def test_post_training_creates_a_record(sim: FabmanSimulator, http: requests.Session) -> None:
    response = http.post(
        api(sim, "/members/1/trainings"),
        json={"trainingCourse": 3, "date": "2025-03-15", "fromDate": "2025-03-15", "untilDate": None, "notes": "quiz"},
        timeout=TIMEOUT,
    )

    record = response.json()
    assert response.status_code == 201
    assert record["trainingCourse"] == 3
    assert (record["date"], record["fromDate"], record["untilDate"], record["notes"]) == (
        "2025-03-15",
        "2025-03-15",
        None,
        "quiz",
    )
    listed = http.get(api(sim, "/members/1/trainings"), timeout=TIMEOUT)
    assert record["id"] in [training["id"] for training in listed.json()]
    assert listed.headers["X-Total-Count"] == "3"


@pytest.mark.parametrize(
    "body",
    [
        {"trainingCourse": 3, "member": 1},
        {"trainingCourse": 999},
        {"date": "2025-03-15"},
        {"trainingCourse": 3, "untilDate": "15.3.2026"},
    ],
    ids=["unknown field", "unknown course", "no course", "bad date"],
)
def test_post_training_rejects_bad_input(sim: FabmanSimulator, http: requests.Session, body: dict[str, object]) -> None:
    response = http.post(api(sim, "/members/1/trainings"), json=body, timeout=TIMEOUT)

    assert response.status_code == 400
    assert len(sim.state.trainings_of(1)) == 2


def test_post_training_for_an_unknown_member_is_404(sim: FabmanSimulator, http: requests.Session) -> None:
    response = http.post(api(sim, "/members/999/trainings"), json={"trainingCourse": 3}, timeout=TIMEOUT)

    assert response.status_code == 404


def test_untildate_from_course_duration_only_when_configured(sim: FabmanSimulator, http: requests.Session) -> None:
    plain = http.post(api(sim, "/members/1/trainings"), json={"trainingCourse": 5, "date": "2025-01-31"}, timeout=TIMEOUT)
    sim.state.fill_until_date = True
    filled = http.post(api(sim, "/members/1/trainings"), json={"trainingCourse": 5, "date": "2025-01-31"}, timeout=TIMEOUT)

    assert plain.json()["untilDate"] is None
    assert filled.json()["untilDate"] == "2025-07-31"


def test_delete_training(sim: FabmanSimulator, http: requests.Session) -> None:
    record_id = sim.state.trainings_of(1)[1]["id"]
    other_members_record = sim.state.trainings_of(2)[0]["id"]

    deleted = http.delete(api(sim, f"/members/1/trainings/{record_id}"), timeout=TIMEOUT)
    again = http.delete(api(sim, f"/members/1/trainings/{record_id}"), timeout=TIMEOUT)
    foreign = http.delete(api(sim, f"/members/1/trainings/{other_members_record}"), timeout=TIMEOUT)

    assert (deleted.status_code, again.status_code, foreign.status_code) == (204, 404, 404)
    assert record_id not in [training["id"] for training in sim.state.trainings_of(1)]
    assert len(sim.state.trainings_of(2)) == 1


# -- auth -------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer wrong", "sim-admin-key"])
def test_requests_without_the_bearer_key_are_401(sim: FabmanSimulator, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}

    response = requests.get(api(sim, "/members/1"), headers=headers, timeout=TIMEOUT)

    assert response.status_code == 401
    assert sim.requests[-1].status == 401


# -- faults -----------------------------------------------------------------


def test_error_rate_one_answers_503_and_is_logged(sim: FabmanSimulator, http: requests.Session) -> None:
    sim.faults.update(error_rate=1)

    failed = http.get(api(sim, "/members/1"), timeout=TIMEOUT)
    sim.faults.reset()
    recovered = http.get(api(sim, "/members/1"), timeout=TIMEOUT)

    assert (failed.status_code, recovered.status_code) == (503, 200)
    assert [(entry.status, entry.injected) for entry in sim.requests] == [(503, True), (200, False)]
    assert sim.faults.faults_injected == 1


def test_fail_next_hits_only_matching_requests(sim: FabmanSimulator, http: requests.Session) -> None:
    sim.faults.fail_next(2, 500, method="GET", path_contains="/training-courses")

    statuses = [
        http.get(api(sim, "/members/1"), timeout=TIMEOUT).status_code,
        http.get(api(sim, "/training-courses"), timeout=TIMEOUT).status_code,
        http.get(api(sim, "/training-courses/1"), timeout=TIMEOUT).status_code,
        http.get(api(sim, "/training-courses/1"), timeout=TIMEOUT).status_code,
    ]

    assert statuses == [200, 500, 500, 200]
    assert sim.faults.snapshot()["fail_next"] == []


def test_down_answers_503_to_everything(sim: FabmanSimulator, http: requests.Session) -> None:
    sim.faults.down = True

    statuses = {
        http.get(api(sim, "/members"), timeout=TIMEOUT).status_code,
        http.post(api(sim, "/members/1/trainings"), json={"trainingCourse": 3}, timeout=TIMEOUT).status_code,
        requests.get(api(sim, "/members"), timeout=TIMEOUT).status_code,
    }

    assert statuses == {503}
    assert len(sim.state.trainings_of(1)) == 2
    assert sim.faults.faults_injected == 3


def test_rate_limit_answers_429_with_retry_after_only_when_configured(sim: FabmanSimulator, http: requests.Session) -> None:
    sim.faults.update(rate_limit_per_second=2)
    plain = [http.get(api(sim, "/members/1"), timeout=TIMEOUT) for _ in range(4)]
    sim.faults.update(retry_after=3)
    with_header = http.get(api(sim, "/members/1"), timeout=TIMEOUT)

    limited = [response for response in plain if response.status_code == 429]
    assert limited
    assert all("Retry-After" not in response.headers for response in limited)
    assert plain[0].status_code == 200
    assert with_header.status_code == 429
    assert with_header.headers["Retry-After"] == "3"


def test_latency_is_added_to_each_request(sim: FabmanSimulator, http: requests.Session) -> None:
    sim.faults.latency_ms = 150

    started = time.monotonic()
    response = http.get(api(sim, "/members/1"), timeout=TIMEOUT)

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.15


def test_hang_exceeds_the_client_read_timeout(sim: FabmanSimulator, http: requests.Session) -> None:
    sim.faults.hang_seconds = 5

    with pytest.raises(requests.ReadTimeout):
        http.get(api(sim, "/members/1"), timeout=(TIMEOUT, 0.2))


def test_conflict_rate_one_refuses_even_a_current_lock_version(sim: FabmanSimulator, http: requests.Session) -> None:
    sim.faults.conflict_rate = 1.0
    version = sim.state.member(1)["lockVersion"]

    response = http.put(api(sim, "/members/1"), json={"lockVersion": version, "language": "en"}, timeout=TIMEOUT)

    assert response.status_code == 409
    assert sim.state.member(1)["language"] == "cs"
    assert sim.requests[-1].injected


# -- control API and request log ---------------------------------------------


def test_control_api_over_http(sim: FabmanSimulator, http: requests.Session) -> None:
    http.get(api(sim, "/members"), params={"limit": 2}, timeout=TIMEOUT)
    with requests.Session() as plain:
        patched = plain.put(control(sim, "/faults"), json={"error_rate": 1, "retry_after": 2}, timeout=TIMEOUT)
        failing = http.get(api(sim, "/members/1"), timeout=TIMEOUT)
        rejected = plain.put(control(sim, "/faults"), json={"error_rate": 2}, timeout=TIMEOUT)
        reset = plain.post(control(sim, "/reset_faults"), timeout=TIMEOUT)
        armed = plain.post(control(sim, "/fail_next"), json={"count": 1, "status": 429}, timeout=TIMEOUT)
        limited = http.get(api(sim, "/members/1"), timeout=TIMEOUT)
        stats = plain.get(control(sim, "/stats"), timeout=TIMEOUT).json()
        logged = plain.get(control(sim, "/requests"), timeout=TIMEOUT).json()
        cleared = plain.delete(control(sim, "/requests"), timeout=TIMEOUT)
        after_clear = plain.get(control(sim, "/requests"), timeout=TIMEOUT).json()
        trainings = plain.get(control(sim, "/members/1/trainings"), timeout=TIMEOUT).json()
        faults = plain.get(control(sim, "/faults"), timeout=TIMEOUT).json()

    assert patched.json()["error_rate"] == 1
    assert failing.status_code == 503
    assert rejected.status_code == 400
    assert reset.json()["error_rate"] == 0
    assert armed.json()["fail_next"][0]["status"] == 429
    assert limited.status_code == 429
    assert stats == {
        "members": 25,
        "trainings": 53,
        "courses": 12,
        "resources": 5,
        "resourceLogs": 0,
        "requests": 3,
        "faults_injected": 2,
    }
    assert [(entry["method"], entry["path"], entry["query"], entry["status"]) for entry in logged] == [
        ("GET", "/members", "limit=2", 200),
        ("GET", "/members/1", "", 503),
        ("GET", "/members/1", "", 429),
    ]
    assert cleared.status_code == 204
    assert after_clear == []
    assert [record["_embedded"]["trainingCourse"]["id"] for record in trainings] == [1, 2]
    assert faults["faults_injected"] == 2


def test_request_log_records_api_requests_only(sim: FabmanSimulator, http: requests.Session) -> None:
    http.get(api(sim, "/members/1"), params={"embed": "trainings"}, timeout=TIMEOUT)
    http.delete(api(sim, "/members/1/trainings/999"), timeout=TIMEOUT)
    requests.get(control(sim, "/stats"), timeout=TIMEOUT)

    entries = sim.requests
    assert [(entry.method, entry.path, entry.query, entry.status) for entry in entries] == [
        ("GET", "/members/1", "embed=trainings", 200),
        ("DELETE", "/members/1/trainings/999", "", 404),
    ]
    assert entries[0].at <= entries[1].at
    sim.clear_requests()
    assert sim.requests == []


def test_stopped_simulator_refuses_connections() -> None:
    with FabmanSimulator() as sim:
        base_url = sim.base_url

    with pytest.raises(requests.ConnectionError):
        requests.get(base_url + "/members", timeout=TIMEOUT)
