"""The Fabman client against Fabman's HTTP behaviour, faked at the HTTP boundary with `responses`."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
import requests
import responses
from responses import matchers

from bridge.adapters.fabman import (
    FabmanClient,
    FabmanConflict,
    FabmanNotFound,
    FabmanRejected,
    FabmanTimeout,
    FabmanUnavailable,
)

BASE = "https://fabman.test/api/v1"


class FakeClock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sleeps(list[float]):
    """Records the waits the client asks for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(sleeps: Sleeps, clock: FakeClock) -> Iterator[FabmanClient]:
    fabman = FabmanClient(BASE, "Bearer secret-key", page_size=2, courses_cache_seconds=60, sleep=sleeps, clock=clock)
    yield fabman
    fabman.close()


def member_json(member_id: int = 1, **extra: object) -> dict[str, object]:
    return {"id": member_id, "firstName": "Petra", "lastName": "Dvořáková", "lockVersion": 4, "metadata": None, **extra}


def course_json(course_id: int, title: str = "Laser") -> dict[str, object]:
    return {
        "id": course_id,
        "title": title,
        "state": "active",
        "defaultDuration": 1,
        "defaultDurationUnit": "year",
        "metadata": None,
    }


def add_course_pages(http: responses.RequestsMock, *pages: list[dict[str, object]]) -> None:
    """The course list in pages linked by relative `Link: rel="next"` URLs, as Fabman sends them."""
    for index, page in enumerate(pages):
        headers = {"X-Total-Count": str(sum(len(p) for p in pages))}
        if index + 1 < len(pages):
            headers["Link"] = f'</api/v1/training-courses?limit=2&offset={2 * (index + 1)}>; rel="next"'
        query = {"limit": "2"} if index == 0 else {"limit": "2", "offset": str(2 * index)}
        http.get(
            f"{BASE}/training-courses",
            json=page,
            headers=headers,
            match=[matchers.query_param_matcher(query)],
        )


# -- transport -------------------------------------------------------------


def test_every_request_carries_the_bearer_key_and_asks_for_json(http: responses.RequestsMock, client: FabmanClient) -> None:
    http.get(f"{BASE}/members/1", json=member_json())

    client.get_member(1)

    sent = http.calls[0].request
    assert sent.headers["Authorization"] == "Bearer secret-key"
    assert sent.headers["Accept"] == "application/json"


def test_get_member_embeds_trainings_and_privileges_and_parses_them(http: responses.RequestsMock, client: FabmanClient) -> None:
    embedded = {
        "trainings": [
            {
                "id": 17,
                "trainingCourse": 2,
                "date": "2026-01-05",
                "fromDate": "2026-01-05",
                "untilDate": None,
                "_embedded": {"trainingCourse": course_json(2)},
            }
        ],
        "privileges": {"privileges": "admin"},
    }
    http.get(f"{BASE}/members/1", json=member_json(_embedded=embedded))

    member = client.get_member(1)

    assert http.calls[0].request.url.endswith("/members/1?embed=trainings&embed=privileges")
    assert member.is_privileged and member.lock_version == 4 and member.metadata is None
    assert member.trainings is not None
    (record,) = member.trainings
    assert (record.id, record.course_id, record.date, record.until_date) == (17, 2, dt.date(2026, 1, 5), None)
    assert record.course is not None and record.course.title == "Laser"


def test_pagination_follows_relative_next_links_across_three_pages(http: responses.RequestsMock, client: FabmanClient) -> None:
    add_course_pages(http, [course_json(1), course_json(2)], [course_json(3), course_json(4)], [course_json(5)])

    courses = client.courses()

    assert sorted(courses) == [1, 2, 3, 4, 5]
    assert [call.request.url for call in http.calls] == [
        f"{BASE}/training-courses?limit=2",
        f"{BASE}/training-courses?limit=2&offset=2",
        f"{BASE}/training-courses?limit=2&offset=4",
    ]
    assert all(call.request.headers["Authorization"] == "Bearer secret-key" for call in http.calls)


def test_member_trainings_are_read_to_the_last_page(http: responses.RequestsMock, client: FabmanClient) -> None:
    record = {"id": 1, "trainingCourse": 2, "date": "2026-01-01", "untilDate": "2027-01-01"}
    http.get(
        f"{BASE}/members/3/trainings",
        json=[record, {**record, "id": 2}],
        headers={"Link": '</api/v1/members/3/trainings?limit=2&offset=2>; rel="next"'},
        match=[matchers.query_param_matcher({"limit": "2"})],
    )
    http.get(
        f"{BASE}/members/3/trainings",
        json=[{**record, "id": 3}],
        match=[matchers.query_param_matcher({"limit": "2", "offset": "2"})],
    )

    assert [r.id for r in client.list_trainings(3)] == [1, 2, 3]


def test_a_list_endpoint_answering_a_non_list_is_rejected(http: responses.RequestsMock, client: FabmanClient) -> None:
    http.get(f"{BASE}/training-courses", json={"error": "nope"})

    with pytest.raises(FabmanRejected):
        client.courses()


def test_a_body_that_is_not_json_is_a_fabman_failure(http: responses.RequestsMock, client: FabmanClient) -> None:
    http.get(f"{BASE}/members/1", body="<html>maintenance</html>", content_type="text/html")

    with pytest.raises(FabmanRejected):
        client.get_member(1)


# -- 429 -------------------------------------------------------------------


def test_429_waits_as_long_as_retry_after_says(http: responses.RequestsMock, client: FabmanClient, sleeps: Sleeps) -> None:
    http.get(f"{BASE}/members/1", status=429, headers={"Retry-After": "3"})
    http.get(f"{BASE}/members/1", json=member_json())

    assert client.get_member(1).id == 1
    assert sleeps == [3.0]
    assert len(http.calls) == 2


@pytest.mark.parametrize("retry_after", [None, "0", "1", "-4", "soon"])
def test_429_waits_at_least_two_seconds(
    http: responses.RequestsMock, client: FabmanClient, sleeps: Sleeps, retry_after: str | None
) -> None:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    http.get(f"{BASE}/members/1", status=429, headers=headers)
    http.get(f"{BASE}/members/1", json=member_json())

    client.get_member(1)

    assert sleeps == [2.0]


def test_a_persisting_429_gives_up_within_the_budget(http: responses.RequestsMock, client: FabmanClient, sleeps: Sleeps) -> None:
    http.get(f"{BASE}/members/1", status=429)

    with pytest.raises(FabmanUnavailable) as raised:
        client.get_member(1)

    assert raised.value.status == 429
    assert sleeps == [2.0, 2.0, 2.0]
    assert sum(sleeps) <= client.rate_limit_budget
    assert len(http.calls) == 4


def test_a_retry_after_beyond_the_budget_is_not_waited_for(
    http: responses.RequestsMock, client: FabmanClient, sleeps: Sleeps
) -> None:
    http.get(f"{BASE}/members/1", status=429, headers={"Retry-After": "120"})

    with pytest.raises(FabmanUnavailable):
        client.get_member(1)

    assert sleeps == []


def test_429_on_a_write_is_waited_out_too(http: responses.RequestsMock, client: FabmanClient, sleeps: Sleeps) -> None:
    http.put(f"{BASE}/members/1", status=429)
    http.put(f"{BASE}/members/1", json=member_json(lockVersion=5))

    updated = client.update_member(1, {"metadata": {"a": 1}}, lock_version=4)

    assert updated.lock_version == 5
    assert sleeps == [2.0]
    assert json.loads(http.calls[1].request.body) == {"metadata": {"a": 1}, "lockVersion": 4}
    assert http.calls[1].request.headers["Content-Type"] == "application/json"


# -- retries ---------------------------------------------------------------


@pytest.mark.parametrize("failure", [503, 500, 502, requests.ConnectionError("refused")])
def test_a_get_is_retried_after_a_server_error_or_lost_connection(
    http: responses.RequestsMock, client: FabmanClient, sleeps: Sleeps, failure: int | Exception
) -> None:
    if isinstance(failure, int):
        http.get(f"{BASE}/members/1", status=failure)
    else:
        http.get(f"{BASE}/members/1", body=failure)
    http.get(f"{BASE}/members/1", json=member_json())

    assert client.get_member(1).id == 1
    assert len(http.calls) == 2
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 1


def test_retries_are_bounded_with_growing_backoff(http: responses.RequestsMock, client: FabmanClient, sleeps: Sleeps) -> None:
    http.get(f"{BASE}/members/1", status=503)

    with pytest.raises(FabmanUnavailable) as raised:
        client.get_member(1)

    assert raised.value.status == 503
    assert len(http.calls) == 1 + client.retries
    assert len(sleeps) == client.retries
    assert sleeps[0] < sleeps[1]


def test_a_post_is_never_retried(http: responses.RequestsMock, client: FabmanClient, sleeps: Sleeps) -> None:
    http.post(f"{BASE}/members/1/trainings", status=503)

    with pytest.raises(FabmanUnavailable):
        client.create_training(1, 2, date=dt.date(2026, 3, 1), until_date=None, notes="quiz")

    assert len(http.calls) == 1
    assert sleeps == []


def test_a_post_on_a_lost_connection_is_not_repeated(http: responses.RequestsMock, client: FabmanClient, sleeps: Sleeps) -> None:
    http.post(f"{BASE}/members/1/trainings", body=requests.ConnectionError("reset"))

    with pytest.raises(FabmanUnavailable):
        client.create_training(1, 2, date=dt.date(2026, 3, 1), until_date=None, notes="quiz")

    assert len(http.calls) == 1


def test_create_training_sends_every_date_explicitly(http: responses.RequestsMock, client: FabmanClient) -> None:
    http.post(f"{BASE}/members/1/trainings", status=201, json={"id": 9, "trainingCourse": 2, "date": "2026-03-01"})

    record = client.create_training(1, 2, date=dt.date(2026, 3, 1), until_date=dt.date(2027, 3, 1), notes="ClassMarker 77")

    assert record.id == 9
    assert json.loads(http.calls[0].request.body) == {
        "trainingCourse": 2,
        "date": "2026-03-01",
        "fromDate": "2026-03-01",
        "untilDate": "2027-03-01",
        "notes": "ClassMarker 77",
    }


def test_a_put_is_not_retried_on_a_server_error(http: responses.RequestsMock, client: FabmanClient) -> None:
    http.put(f"{BASE}/members/1", status=500)

    with pytest.raises(FabmanUnavailable):
        client.update_member(1, {}, lock_version=1)

    assert len(http.calls) == 1


@pytest.mark.parametrize("timeout", [requests.ReadTimeout("slow"), requests.ConnectTimeout("slow")])
def test_timeouts_raise_fabman_timeout_after_the_retries(
    http: responses.RequestsMock, client: FabmanClient, timeout: Exception
) -> None:
    http.get(f"{BASE}/members/1", body=timeout)

    with pytest.raises(FabmanTimeout) as raised:
        client.get_member(1)

    assert raised.value.retryable
    assert len(http.calls) == 1 + client.retries


def test_a_broken_off_answer_is_a_retryable_failure(http: responses.RequestsMock, client: FabmanClient) -> None:
    http.get(f"{BASE}/members/1", body=requests.exceptions.ChunkedEncodingError("cut"))
    http.get(f"{BASE}/members/1", json=member_json())

    assert client.get_member(1).id == 1


# -- status codes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, FabmanRejected),
        (401, FabmanRejected),
        (403, FabmanRejected),
        (404, FabmanNotFound),
        (409, FabmanConflict),
        (415, FabmanRejected),
        (500, FabmanUnavailable),
        (503, FabmanUnavailable),
    ],
)
def test_status_codes_map_to_the_projects_exceptions(
    http: responses.RequestsMock, client: FabmanClient, status: int, error: type[Exception]
) -> None:
    http.put(f"{BASE}/members/1", status=status, json={"error": "whatever shape"})

    with pytest.raises(error) as raised:
        client.update_member(1, {"metadata": {}}, lock_version=1)

    assert type(raised.value) is error
    assert raised.value.status == status  # type: ignore[attr-defined]
    assert raised.value.retryable is (status >= 500)  # type: ignore[attr-defined]


def test_4xx_answers_to_a_get_are_not_retried(http: responses.RequestsMock, client: FabmanClient, sleeps: Sleeps) -> None:
    http.get(f"{BASE}/members/1", status=404)

    with pytest.raises(FabmanNotFound):
        client.get_member(1)

    assert len(http.calls) == 1 and sleeps == []


def test_deleting_a_record_that_is_gone_is_not_an_error(http: responses.RequestsMock, client: FabmanClient) -> None:
    http.delete(f"{BASE}/members/1/trainings/5", status=204)
    http.delete(f"{BASE}/members/1/trainings/6", status=404)

    assert client.delete_training(1, 5) is True
    assert client.delete_training(1, 6) is False


def test_the_observer_sees_every_attempt(http: responses.RequestsMock, sleeps: Sleeps) -> None:
    seen: list[tuple[str, str, int | None]] = []
    client = FabmanClient(BASE, "Bearer k", sleep=sleeps, observer=lambda m, p, s, _d: seen.append((m, p, s)))
    http.get(f"{BASE}/members/1", status=503)
    http.get(f"{BASE}/members/1", body=requests.ConnectionError("x"))
    http.get(f"{BASE}/members/1", json=member_json())

    client.get_member(1)

    assert seen == [("GET", "/members/1", 503), ("GET", "/members/1", None), ("GET", "/members/1", 200)]


# -- the course cache -----------------------------------------------------------


def test_courses_are_fetched_once_within_the_ttl_and_again_after(
    http: responses.RequestsMock, client: FabmanClient, clock: FakeClock
) -> None:
    http.get(f"{BASE}/training-courses", json=[course_json(1)])

    client.courses()
    clock.now += 59
    client.courses()
    assert len(http.calls) == 1

    clock.now += 2
    client.courses()
    assert len(http.calls) == 2


def test_a_ttl_of_zero_turns_the_cache_off(http: responses.RequestsMock, sleeps: Sleeps) -> None:
    client = FabmanClient(BASE, "Bearer k", courses_cache_seconds=0, sleep=sleeps)
    http.get(f"{BASE}/training-courses", json=[course_json(1)])

    client.courses()
    client.courses()
    client.course(1)

    assert len(http.calls) == 3


def test_a_derived_client_shares_the_cache_and_the_connections(http: responses.RequestsMock, client: FabmanClient) -> None:
    http.get(f"{BASE}/training-courses", json=[course_json(1)])
    webhook_client = client.derive(timeout=1.5, retries=0, rate_limit_budget=0)

    client.courses()
    assert webhook_client.course(1).title == "Laser"

    assert len(http.calls) == 1
    assert webhook_client.session is client.session
    assert webhook_client.timeout[1] == 1.5 and webhook_client.retries == 0
    assert client.retries == 2 and client.timeout[1] == 5.0


def test_a_derived_client_without_rate_budget_gives_up_on_the_first_429(
    http: responses.RequestsMock, client: FabmanClient, sleeps: Sleeps
) -> None:
    http.get(f"{BASE}/members/1", status=429)

    with pytest.raises(FabmanUnavailable):
        client.derive(retries=0, rate_limit_budget=0).get_member(1)

    assert sleeps == [] and len(http.calls) == 1


def test_an_unknown_course_refreshes_the_cache_once(http: responses.RequestsMock, client: FabmanClient) -> None:
    http.get(f"{BASE}/training-courses", json=[course_json(1)])
    http.get(f"{BASE}/training-courses", json=[course_json(1), course_json(2, "CNC")])

    client.courses()
    assert client.course(2).title == "CNC"
    assert len(http.calls) == 2

    with pytest.raises(FabmanNotFound):
        client.course(3)
    assert len(http.calls) == 3


def test_forgetting_courses_refetches(http: responses.RequestsMock, client: FabmanClient) -> None:
    http.get(f"{BASE}/training-courses", json=[course_json(1)])

    client.courses()
    client.forget_courses()
    client.courses()

    assert len(http.calls) == 2
