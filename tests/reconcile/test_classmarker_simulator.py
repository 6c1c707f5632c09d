"""The ClassMarker simulator is faithful where reconciliation depends on it: signing, paging, limits, loose types, webhooks."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from bridge.clock import SettableClock
from harness import WEBHOOK_SECRET
from sandbox.simulator.classmarker import ClassMarkerAccount, ClassMarkerApiSimulator, ClassMarkerWebhookSender
from tests.reconcile.conftest import WEBHOOK, ServedBridge

pytestmark = pytest.mark.e2e

PATH = "/v1/links/recent_results.json"


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def ask(
    http: requests.Session,
    api: ClassMarkerApiSimulator,
    *,
    at: dt.datetime | None = None,
    secret: str | None = None,
    key: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """One signed GET of recent link results (signed at `at`, with another secret or key when given)."""
    account = api.account
    timestamp = int((at or account.clock()).timestamp())
    signature = hashlib.md5(f"{key or account.api_key}{secret or account.api_secret}{timestamp}".encode()).hexdigest()
    query = {"api_key": key or account.api_key, "timestamp": timestamp, "signature": signature, **params}
    response = http.get(api.base_url + PATH, params=query, timeout=10)
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()  # type: ignore[no-any-return]


def test_a_signed_request_lists_results_oldest_first_with_their_links_and_tests(
    http: requests.Session, account: ClassMarkerAccount, classmarker: ClassMarkerApiSimulator, clock: SettableClock
) -> None:
    later = account.take_quiz("token-b", finished_at=clock.now() - dt.timedelta(minutes=5))
    earlier = account.take_quiz("token-a", finished_at=clock.now() - dt.timedelta(minutes=50), percentage=60)

    body = ask(http, classmarker)

    assert body["status"] == "ok" and body["more_results_exist"] is False
    assert [r["result"]["link_result_id"] for r in body["results"]] == [earlier.link_result_id, later.link_result_id]
    first = body["results"][0]["result"]
    assert (first["cm_user_id"], first["percentage"], first["passed"], first["status"]) == ("token-a", 60, False, "f")
    assert (first["test_id"], first["link_id"]) == (2044187, 1288001)
    assert body["tests"] == [{"test": {"test_id": 2044187, "test_name": "Laser cutter - safety"}}]
    assert body["links"][0]["link"]["link_id"] == 1288001
    assert body["finished_after_timestamp_used"] == int((clock.now() - dt.timedelta(days=14)).timestamp())


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"secret": "wrong-secret"}, "invalid_signature"),
        ({"key": "someone-else"}, "invalid_api_key"),
        ({"at": dt.timedelta(minutes=-6)}, "invalid_timestamp"),
        ({"at": dt.timedelta(minutes=6)}, "invalid_timestamp"),
        ({"finishedAfterTimestamp": "yesterday"}, "invalid_parameter"),
    ],
)
def test_what_classmarker_refuses_is_an_error_answer(
    http: requests.Session, classmarker: ClassMarkerApiSimulator, clock: SettableClock, change: dict[str, Any], code: str
) -> None:
    if "at" in change:
        change["at"] = clock.now() + change["at"]

    body = ask(http, classmarker, **change)

    assert body["status"] == "error" and body["error"]["error_code"] == code and body["error"]["error_message"]
    assert "results" not in body


def test_a_timestamp_within_five_minutes_is_accepted(
    http: requests.Session, classmarker: ClassMarkerApiSimulator, clock: SettableClock
) -> None:
    assert ask(http, classmarker, at=clock.now() - dt.timedelta(minutes=4, seconds=50))["status"] == "no_results"


def test_pages_overlap_by_the_configured_number_of_results(
    http: requests.Session, account: ClassMarkerAccount, classmarker: ClassMarkerApiSimulator, clock: SettableClock
) -> None:
    taken = [account.take_quiz(f"t{i}", finished_at=clock.now() - dt.timedelta(minutes=10 - i)) for i in range(5)]
    classmarker.overlap = 2

    first = ask(http, classmarker, limit=3, finishedAfterTimestamp=0)
    second = ask(http, classmarker, limit=3, finishedAfterTimestamp=first["next_finished_after_timestamp"])

    def ids(body: dict[str, Any]) -> list[int]:
        return [r["result"]["link_result_id"] for r in body["results"]]

    assert ids(first) == [r.link_result_id for r in taken[:3]] and first["more_results_exist"] is True
    assert first["next_finished_after_timestamp"] == (taken[1].time_finished or 0) - 1
    assert ids(second) == [r.link_result_id for r in taken[1:4]]
    assert (first["num_results_available"], second["num_results_available"]) == (5, 4)


def test_the_api_keeps_results_about_three_months(
    http: requests.Session, account: ClassMarkerAccount, classmarker: ClassMarkerApiSimulator, clock: SettableClock
) -> None:
    account.take_quiz("old", finished_at=clock.now() - dt.timedelta(days=100))
    kept = account.take_quiz("kept", finished_at=clock.now() - dt.timedelta(days=80))

    body = ask(http, classmarker, finishedAfterTimestamp=0)

    assert [r["result"]["link_result_id"] for r in body["results"]] == [kept.link_result_id]
    assert body["finished_after_timestamp_used"] == int((clock.now() - dt.timedelta(days=90)).timestamp())


def test_loose_types_results_without_passed_and_results_in_progress(
    http: requests.Session, account: ClassMarkerAccount, classmarker: ClassMarkerApiSimulator, clock: SettableClock
) -> None:
    account.take_quiz("strings", api_strings=True, api_omits={"passed"}, finished_at=clock.now() - dt.timedelta(minutes=9))
    account.take_quiz("no-mark", passmark=None, api_omits={"passed"}, finished_at=clock.now() - dt.timedelta(minutes=8))
    taking = account.take_quiz("taking", in_progress=True)

    listed = {r["result"]["cm_user_id"]: r["result"] for r in ask(http, classmarker)["results"]}

    strings = listed["strings"]
    assert isinstance(strings["percentage"], str) and isinstance(strings["time_finished"], str)
    assert isinstance(strings["link_result_id"], str) and "passed" not in strings
    assert "passed" not in listed["no-mark"] and "percentage_passmark" not in listed["no-mark"]
    assert (listed["taking"]["status"], listed["taking"]["time_finished"]) == ("ip", None)
    account.finish(taking.link_result_id)
    assert {r["result"]["status"] for r in ask(http, classmarker)["results"]} == {"f"}


def test_the_hourly_request_limit_by_the_account_s_clock(
    http: requests.Session, classmarker: ClassMarkerApiSimulator, clock: SettableClock
) -> None:
    classmarker.request_limit = 2

    statuses = [ask(http, classmarker)["status"] for _ in range(3)]
    clock.advance(minutes=61)

    assert statuses == ["no_results", "no_results", "request_limit_reached"]
    assert ask(http, classmarker)["status"] == "no_results"


def test_error_answers_and_http_failures_on_demand(http: requests.Session, classmarker: ClassMarkerApiSimulator) -> None:
    classmarker.fail_next(code="maintenance", message="Down for maintenance")
    classmarker.break_next(status=502)

    broken = http.get(classmarker.base_url + PATH, timeout=10)
    refused = ask(http, classmarker)

    assert broken.status_code == 502 and broken.headers["Content-Type"].startswith("text/html")
    assert refused["error"] == {"error_code": "maintenance", "error_message": "Down for maintenance"}
    assert ask(http, classmarker)["status"] == "no_results"
    assert [r.status for r in classmarker.requests] == ["http 502", "error", "no_results"]
    assert all(r.signed for r in classmarker.requests[1:]) and not classmarker.requests[0].signed


# -- the webhook sender ----------------------------------------------------------------


def test_the_webhook_is_signed_over_the_raw_php_escaped_body(account: ClassMarkerAccount, served: ServedBridge) -> None:
    result = account.take_quiz("token", link={"link_name": "Laser/members"})
    with ClassMarkerWebhookSender(account, served.url + WEBHOOK) as sender:
        body, signature = sender.signed_body(result)

    assert b"Laser\\/members" in body
    assert signature == base64.b64encode(hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert json.loads(body)["result"]["link_result_id"] == result.link_result_id


def test_deliveries_are_lost_at_the_rate_decided_once_per_result(
    account: ClassMarkerAccount, served: ServedBridge, clock: SettableClock
) -> None:
    taken = [account.take_quiz(None, finished_at=clock.now() - dt.timedelta(minutes=i)) for i in range(40)]
    with ClassMarkerWebhookSender(account, served.url + WEBHOOK, loss_rate=0.3, seed=7) as sender:
        first = sender.deliver()
        again = sender.deliver()

    lost = [d.result_id for d in first if d.lost]
    assert 6 <= len(lost) <= 18 and sorted(lost) == sender.lost
    assert {d.status for d in first if not d.lost} == {200}  # results without cm_user_id: acknowledged, ignored
    assert again == [] and sender.pending_results() == []
    assert len(sender.deliveries) == len(taken)


def test_a_receiver_that_is_down_keeps_results_pending_until_classmarker_gives_up(
    account: ClassMarkerAccount, served: ServedBridge
) -> None:
    account.take_quiz(None)
    url = served.url + WEBHOOK
    served.server.shutdown()
    served.server.server_close()
    with ClassMarkerWebhookSender(account, url) as sender:
        [failed] = sender.deliver()
        pending = [r.link_result_id for r in sender.pending_results()]
        given_up = sender.give_up()

    assert (failed.status, failed.error, failed.delivered) == (None, "ConnectionError", False)
    assert pending == given_up == sender.lost
    assert sender.pending_results() == []


def test_a_wrong_secret_is_refused_and_a_resend_is_a_duplicate(
    account: ClassMarkerAccount, served: ServedBridge, sender: ClassMarkerWebhookSender
) -> None:
    result = account.take_quiz(None)
    sender.wrong_secret = True
    [refused] = sender.deliver()
    sender.wrong_secret = False
    [accepted] = sender.deliver()
    resent = sender.resend(result.link_result_id, times=2)

    assert refused.status == 401 and accepted.status == 200
    assert [d.status for d in resent] == [200, 200]
    assert len(sender.deliveries) == 4


def test_a_graded_result_is_sent_again(account: ClassMarkerAccount, sender: ClassMarkerWebhookSender) -> None:
    result = account.take_quiz(None, requires_grading=True)
    sender.deliver()
    account.grade(result.link_result_id, percentage=95)

    [graded] = sender.deliver()

    assert (graded.result_id, graded.version, graded.status) == (result.link_result_id, 2, 200)
