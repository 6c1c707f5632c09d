"""The ClassMarker results API client against ClassMarker's HTTP behaviour, faked at the HTTP boundary with `responses`.

No socket is opened here (not e2e): signing, paging, overlaps, error answers,
loose types and what never reaches a log or an error message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from bridge.adapters.classmarker import (
    ClassMarkerBadAnswer,
    ClassMarkerClient,
    ClassMarkerError,
    ClassMarkerRateLimited,
    ClassMarkerRefused,
    ClassMarkerUnavailable,
    RequestBudgetSpent,
    ResultsPage,
)
from bridge.clock import SettableClock

BASE = "https://classmarker.test"
URL = BASE + "/v1/links/recent_results.json"
KEY = "cm-key-7f3a"
SECRET = "cm-secret-91bd"
NOW = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def api() -> Iterator[ClassMarkerClient]:
    client = ClassMarkerClient(BASE + "/", KEY, SECRET, clock=SettableClock(NOW))
    yield client
    client.close()


def result(result_id: Any, finished: Any, **fields: Any) -> dict[str, Any]:
    return {
        "result": {
            "link_result_id": result_id,
            "test_id": 2044187,
            "link_id": 1288001,
            "percentage": 90,
            "percentage_passmark": "80",
            "passed": True,
            "requires_grading": "No",
            "time_started": int(finished) - 420 if finished else 0,
            "time_finished": finished,
            "cm_user_id": f"token-{result_id}",
            **fields,
        }
    }


def answer(results: list[dict[str, Any]], *, more: bool = False, next_after: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "status": "ok" if results else "no_results",
        "request_path": "v1/links/recent_results",
        "server_timestamp": int(NOW.timestamp()),
        "finished_after_timestamp_used": 1763600000,
        "links": [{"link": {"link_id": "1288001", "link_name": "Laser (members)", "link_url_id": "q7b2"}}],
        "tests": [{"test": {"test_id": "2044187", "test_name": "Laser cutter - safety"}}],
        "results": results,
        "num_results_available": len(results),
        "num_results_returned": len(results),
        "more_results_exist": more,
        "next_finished_after_timestamp": next_after,
        **extra,
    }


def listing(api: ClassMarkerClient, after: int = 1763600000, **options: Any) -> list[ResultsPage]:
    return list(api.recent_results(after, **options))


def test_every_request_is_signed_with_the_clock_s_timestamp(http: responses.RequestsMock, api: ClassMarkerClient) -> None:
    timestamp = int(NOW.timestamp())
    expected = {
        "api_key": KEY,
        "timestamp": str(timestamp),
        "signature": hashlib.md5(f"{KEY}{SECRET}{timestamp}".encode()).hexdigest(),
        "finishedAfterTimestamp": "1763600000",
        "limit": "200",
    }
    http.get(URL, json=answer([]), match=[matchers.query_param_matcher(expected)])

    [page] = listing(api)

    assert page.results == () and page.more is False


def test_pages_are_followed_and_overlapping_results_come_once(http: responses.RequestsMock, api: ClassMarkerClient) -> None:
    first = answer([result(1, 1763700000), result(2, 1763700100), result(3, 1763700200)], more=True, next_after=1763700199)
    second = answer([result(3, 1763700200), result(4, 1763700300)], more=True, next_after="1763700299")
    third = answer([result(4, 1763700300)])
    for body, after in ((first, "1763600000"), (second, "1763700199"), (third, "1763700299")):
        http.get(URL, json=body, match=[matchers.query_param_matcher({"finishedAfterTimestamp": after}, strict_match=False)])

    pages = listing(api)

    assert [[r.result_id for r in page.results] for page in pages] == [["1", "2", "3"], ["4"], []]
    assert [page.returned for page in pages] == [3, 2, 1]
    assert pages[0].newest_finished == dt.datetime.fromtimestamp(1763700200, dt.UTC)
    assert pages[0].results[0].test == {"test_id": "2044187", "test_name": "Laser cutter - safety"}
    assert pages[0].results[0].link["link_name"] == "Laser (members)"


def test_loose_types_are_read(http: responses.RequestsMock, api: ClassMarkerClient) -> None:
    listed = [
        result("11", "1763700000", percentage="75.5", percentage_passmark="70", passed="true"),
        result(12.0, 1763700001, percentage=80.0, passed=None),
        {"result": {**result(13, 1763700002)["result"], "passed": "maybe"}},
        result(14, None, status="ip"),
        result(15, 1763700003, status="f", requires_grading="Yes"),
        result(16, 1763700004, cm_user_id=""),
    ]
    del listed[1]["result"]["percentage_passmark"]
    http.get(URL, json=answer(listed))

    [page] = listing(api)
    by_id = {r.result_id: r for r in page.results}

    assert (by_id["11"].percentage, by_id["11"].percentage_passmark, by_id["11"].passed) == (75.5, 70.0, True)
    assert by_id["11"].time_finished == dt.datetime.fromtimestamp(1763700000, dt.UTC)
    assert (by_id["12"].percentage, by_id["12"].percentage_passmark, by_id["12"].passed) == (80.0, None, None)
    assert by_id["13"].passed is None
    assert by_id["14"].in_progress and by_id["14"].time_finished is None
    assert by_id["15"].requires_grading and not by_id["15"].in_progress
    assert by_id["16"].cm_user_id is None
    assert by_id["11"].fields["percentage"] == "75.5"  # kept as ClassMarker sent it


def test_results_that_cannot_be_read_are_counted_not_fatal(http: responses.RequestsMock, api: ClassMarkerClient) -> None:
    http.get(URL, json=answer([result(None, 1763700000), {"result": "x"}, 7, result(21, 1763700001)]))

    [page] = listing(api)

    assert [r.result_id for r in page.results] == ["21"]
    assert page.unreadable == 3


@pytest.mark.parametrize(
    ("body", "status", "error", "words"),
    [
        (
            {"status": "error", "error": {"error_code": "invalid_signature", "error_message": "Signature mismatch"}},
            200,
            ClassMarkerRefused,
            "invalid_signature: Signature mismatch",
        ),
        ({"status": "request_limit_reached"}, 200, ClassMarkerRateLimited, "request_limit_reached"),
        ({"status": "error"}, 200, ClassMarkerRefused, "unknown"),
        ({"status": "surprise"}, 200, ClassMarkerBadAnswer, "unknown status"),
        ({"status": "error", "error": {"error_code": "x", "error_message": "y"}}, 403, ClassMarkerRefused, "x: y"),
    ],
)
def test_errors_are_read_from_the_body(
    http: responses.RequestsMock,
    api: ClassMarkerClient,
    body: dict[str, Any],
    status: int,
    error: type[ClassMarkerError],
    words: str,
) -> None:
    http.get(URL, json=body, status=status)

    with pytest.raises(error) as raised:
        listing(api)

    assert words in str(raised.value)


@pytest.mark.parametrize(("status", "error"), [(503, ClassMarkerUnavailable), (200, ClassMarkerBadAnswer)])
def test_an_answer_that_is_not_json_is_an_error(
    http: responses.RequestsMock, api: ClassMarkerClient, status: int, error: type[ClassMarkerError]
) -> None:
    http.get(URL, body="<html>Bad gateway</html>", status=status, content_type="text/html")

    with pytest.raises(error):
        listing(api)


def test_paging_that_does_not_move_on_stops(http: responses.RequestsMock, api: ClassMarkerClient) -> None:
    http.get(URL, json=answer([result(1, 1763700000)], more=True, next_after=1763600000))

    pages = api.recent_results(1763600000)
    assert [r.result_id for r in next(pages).results] == ["1"]
    with pytest.raises(ClassMarkerBadAnswer):
        next(pages)
    assert len(http.calls) == 1


def test_permit_is_asked_before_every_request(http: responses.RequestsMock, api: ClassMarkerClient) -> None:
    http.get(URL, json=answer([result(1, 1763700000)], more=True, next_after=1763700000))
    permits = iter([True, False])

    pages = api.recent_results(1763600000, permit=lambda: next(permits))
    next(pages)
    with pytest.raises(RequestBudgetSpent):
        next(pages)
    assert len(http.calls) == 1


@pytest.mark.parametrize(
    "failure", [requests.ConnectionError("Max retries exceeded with url: /v1?api_key=" + KEY), requests.ReadTimeout()]
)
def test_no_connection_is_unavailable_and_never_names_the_credentials(
    http: responses.RequestsMock, api: ClassMarkerClient, caplog: pytest.LogCaptureFixture, failure: Exception
) -> None:
    http.get(URL, body=failure)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ClassMarkerUnavailable) as raised:
        listing(api)

    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert "/v1/links/recent_results.json" in str(raised.value)
    for text in (str(raised.value), caplog.text):
        assert KEY not in text and SECRET not in text and "signature" not in text


def test_an_error_message_repeating_the_credentials_is_scrubbed(
    http: responses.RequestsMock, api: ClassMarkerClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"status": "error", "error": {"error_code": "auth", "error_message": f"key {KEY} with secret {SECRET}\n refused"}}
    http.get(URL, json=body)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ClassMarkerRefused) as raised:
        listing(api)

    assert str(raised.value) == "ClassMarker refused the request: auth: key *** with secret ***  refused"
    assert KEY not in caplog.text and SECRET not in caplog.text
    assert KEY not in repr(api) and SECRET not in repr(api)


def test_limit_must_be_one_classmarker_allows(api: ClassMarkerClient) -> None:
    with pytest.raises(ValueError, match="limit"):
        listing(api, limit=201)
