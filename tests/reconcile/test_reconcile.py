"""Contract section 11: results the webhook never brought are found in ClassMarker's results API and applied once.

Every test drives a bridge against the ClassMarker simulator (results API on
loopback), the Fabman simulator and the SMTP sink, and looks at what a user
would notice: the training in Fabman, the mail, the row in the store.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from bridge.answers import to_json
from bridge.application import Bridge, bridge_of
from bridge.clock import SettableClock
from harness.classmarker import quiz_of, signed
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from sandbox.simulator.classmarker import ClassMarkerAccount, ClassMarkerApiSimulator, SimResult
from tests.reconcile.conftest import LASER, PETRA, STAFF, WEBHOOK, course_records, token
from tests.support import problem, text_of

MARKETA, EVA, SAFETY, SOLDERING = 12, 6, 1, 6
PRAGUE = ZoneInfo("Europe/Prague")
GAP_SUBJECT = "ClassMarker webhook is probably misconfigured"


def reconcile(client: FlaskClient, headers: dict[str, str], **query: Any) -> dict[str, Any]:
    """POST /cron/reconcile as the scheduler does; the summary."""
    response = client.post("/cron/reconcile", headers=headers, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json  # type: ignore[no-any-return]


def deliver_webhook(client: FlaskClient, result: SimResult) -> dict[str, Any]:
    """ClassMarker's webhook for the result, delivered (signed as ClassMarker signs it)."""
    body, headers = signed(result.webhook_payload())
    response = client.post(WEBHOOK, data=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json  # type: ignore[no-any-return]


def email_of(simulator: FabmanSimulator, member_id: int) -> str:
    return str(simulator.state.member(member_id)["emailAddress"])


def subjects(smtp: SmtpSink, address: str) -> list[str]:
    return [str(m["Subject"]) for m in smtp.to(address)]


def granted(simulator: FabmanSimulator, member_id: int, course_id: int) -> list[str | None]:
    """The result each of the member's records of the course was granted for (None: not by a quiz result)."""
    records = course_records(simulator, member_id, course_id)
    named = (re.search(r"ClassMarker result #(\w+)\.", str(record["notes"] or "")) for record in records)
    return [match.group(1) if match else None for match in named]


def failed_attempts(simulator: FabmanSimulator, member_id: int, course_id: int) -> int:
    metadata = simulator.state.member(member_id)["metadata"] or {}
    entries = (metadata.get("courses_cm") or {}).get("failed_courses") or []
    return sum(int(e["attempts"]) for e in entries if e["id"] == course_id)


def counts(summary: dict[str, Any], *keys: str) -> tuple[Any, ...]:
    return tuple(summary[key] for key in keys)


# -- a lost webhook is recovered -----------------------------------------------------


def test_a_result_whose_webhook_never_came_is_applied_by_polling(
    client: FlaskClient,
    bridge: Bridge,
    account: ClassMarkerAccount,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    cron_headers: dict[str, str],
) -> None:
    taken = account.take_quiz(token(bridge, PETRA, LASER), percentage=90, passmark=80)

    summary = reconcile(client, cron_headers)

    assert counts(summary, "pages", "seen", "new", "applied", "needs_review", "gap") == (1, 1, 1, 1, 0, 1)
    assert summary["complete"] is True and summary["stopped"] is None
    [record] = course_records(simulator, PETRA, LASER)
    assert f"ClassMarker result #{taken.link_result_id}." in str(record["notes"])
    [event] = bridge.store.inbox.events()
    assert (event.result_key, event.status, event.source) == (str(taken.link_result_id), "applied", "poll")
    assert event.outcome == "granted"
    stored = json.loads(event.payload)
    assert stored["payload_type"] == "single_user_test_results_link"
    assert stored["test"]["test_name"] == "Laser cutter - safety" and stored["link"]["link_id"] == 1288001
    [proof] = bridge.store.ledger.entries()
    assert (proof.result_id, proof.quiz_name, proof.percentage, proof.percentage_passmark) == (
        str(taken.link_result_id),
        "Laser cutter - safety",
        90.0,
        80.0,
    )
    assert proof.time_finished == dt.datetime.fromtimestamp(taken.time_finished or 0, dt.UTC)
    assert len(smtp.to(email_of(simulator, PETRA))) == 1


def test_the_evidence_of_a_polled_result_equals_a_delivered_one_s(
    client: FlaskClient,
    bridge: Bridge,
    account: ClassMarkerAccount,
    clock: SettableClock,
    cron_headers: dict[str, str],
) -> None:
    """Two members pass the same quiz at the same moment; one result comes by webhook, the other only by polling."""
    finished = clock.now() - dt.timedelta(minutes=5)
    delivered = account.take_quiz(token(bridge, PETRA, LASER), percentage=92.5, finished_at=finished)
    polled = account.take_quiz(token(bridge, MARKETA, LASER), percentage=92.5, finished_at=finished, api_strings=True)
    deliver_webhook(client, delivered)

    reconcile(client, cron_headers)

    rows = {row.member_id: row for row in bridge.store.ledger.entries()}

    def evidence(member_id: int) -> dict[str, Any]:
        row = rows[member_id]
        return {**row.evidence, "result_id": None, "finished": row.time_finished, "quiz": row.quiz_id, "link": row.link_id}

    assert rows[MARKETA].result_id == str(polled.link_result_id)
    assert evidence(MARKETA) == evidence(PETRA)


# -- webhook and poll: whichever comes first wins ---------------------------------------


def test_a_result_the_webhook_brought_is_a_duplicate_for_polling(
    client: FlaskClient,
    bridge: Bridge,
    account: ClassMarkerAccount,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    cron_headers: dict[str, str],
) -> None:
    taken = account.take_quiz(token(bridge, PETRA, LASER))
    assert deliver_webhook(client, taken)["status"] == "accepted"

    summary = reconcile(client, cron_headers)

    assert counts(summary, "seen", "new", "applied", "gap") == (1, 0, 0, 0)
    assert [(e.status, e.source) for e in bridge.store.inbox.events()] == [("applied", "webhook")]
    assert granted(simulator, PETRA, LASER) == [str(taken.link_result_id)]
    assert len(smtp.to(email_of(simulator, PETRA))) == 1
    assert smtp.to(STAFF) == []


def test_a_webhook_after_polling_is_a_duplicate(
    client: FlaskClient,
    bridge: Bridge,
    account: ClassMarkerAccount,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    cron_headers: dict[str, str],
) -> None:
    taken = account.take_quiz(token(bridge, PETRA, LASER))
    reconcile(client, cron_headers)

    answer = deliver_webhook(client, taken)

    assert answer["status"] == "duplicate"
    assert [(e.status, e.source) for e in bridge.store.inbox.events()] == [("applied", "poll")]
    assert granted(simulator, PETRA, LASER) == [str(taken.link_result_id)]
    assert len(smtp.to(email_of(simulator, PETRA))) == 1


# -- judging a result without `passed` ---------------------------------------------------


def test_without_passed_a_percentage_at_the_pass_mark_passes(
    client: FlaskClient, bridge: Bridge, account: ClassMarkerAccount, simulator: FabmanSimulator, cron_headers: dict[str, str]
) -> None:
    taken = account.take_quiz(token(bridge, PETRA, LASER), percentage=80, passmark=80, api_omits={"passed"})

    summary = reconcile(client, cron_headers)

    assert summary["applied"] == 1
    assert granted(simulator, PETRA, LASER) == [str(taken.link_result_id)]
    [event] = bridge.store.inbox.events()
    assert (event.outcome, json.loads(event.payload)["result"]["passed"]) == ("granted", True)


def test_without_passed_a_percentage_below_the_pass_mark_fails(
    client: FlaskClient,
    bridge: Bridge,
    account: ClassMarkerAccount,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    cron_headers: dict[str, str],
) -> None:
    account.take_quiz(
        token(bridge, MARKETA, SAFETY), quiz=quiz_of(SAFETY), percentage=79.5, passmark=80, api_omits={"passed"}, api_strings=True
    )

    summary = reconcile(client, cron_headers)

    assert summary["applied"] == 1
    assert course_records(simulator, MARKETA, SAFETY) == []
    assert failed_attempts(simulator, MARKETA, SAFETY) == 1
    assert [e.outcome for e in bridge.store.inbox.events()] == ["failed"]
    assert len(smtp.to(email_of(simulator, MARKETA))) == 1


def test_without_passed_and_pass_mark_the_result_waits_for_staff(
    client: FlaskClient,
    runner: FlaskCliRunner,
    bridge: Bridge,
    account: ClassMarkerAccount,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    cron_headers: dict[str, str],
) -> None:
    taken = account.take_quiz(token(bridge, PETRA, LASER), percentage=95, api_omits={"passed", "percentage_passmark"})

    summary = reconcile(client, cron_headers)
    again = reconcile(client, cron_headers)

    assert counts(summary, "new", "applied", "needs_review", "gap") == (1, 0, 1, 1)
    assert counts(again, "new", "needs_review") == (0, 0)
    [event] = bridge.store.inbox.events()
    assert (event.status, event.source, event.member_id, event.course_id) == ("needs_review", "poll", PETRA, LASER)
    assert granted(simulator, PETRA, LASER) == [None]  # her old, expired record only
    assert smtp.to(email_of(simulator, PETRA)) == []
    alert = [m for m in smtp.to(STAFF) if GAP_SUBJECT not in str(m["Subject"])]
    assert len(alert) == 1 and "needs review" in str(alert[0]["Subject"])
    assert f"#{taken.link_result_id}" in text_of(alert[0]) and f"review-result {event.id} passed" in text_of(alert[0])
    replayed = client.post(f"/admin/events/{event.id}/replay", headers={"Authorization": bridge.settings.fabman_api_key})
    assert replayed.json["status"] == "needs_review"  # not replayable: the same question would come back

    reviewed = runner.invoke(args=["review-result", str(event.id), "passed"])

    assert reviewed.exit_code == 0, reviewed.output
    assert json.loads(reviewed.output)["outcome"] == "granted"
    assert granted(simulator, PETRA, LASER) == [str(taken.link_result_id)]
    assert (bridge.store.inbox.get(event.id) or event).status == "applied"
    assert len(smtp.to(email_of(simulator, PETRA))) == 1


def test_only_a_result_under_review_can_be_reviewed(runner: FlaskCliRunner, client: FlaskClient, bridge: Bridge) -> None:
    assert runner.invoke(args=["review-result", "7"]).exit_code == 2  # the verdict is required
    assert runner.invoke(args=["review-result", "7", "maybe"]).exit_code == 2
    missing = runner.invoke(args=["review-result", "7", "failed"])
    assert missing.exit_code == 1 and "does not exist" in missing.output


# -- results not applied as they stand ------------------------------------------------


def test_a_result_in_progress_is_skipped_until_it_is_finished(
    client: FlaskClient,
    bridge: Bridge,
    account: ClassMarkerAccount,
    simulator: FabmanSimulator,
    clock: SettableClock,
    cron_headers: dict[str, str],
) -> None:
    taking = account.take_quiz(token(bridge, PETRA, LASER), in_progress=True)

    first = reconcile(client, cron_headers)
    clock.advance(minutes=10)
    account.finish(taking.link_result_id)
    second = reconcile(client, cron_headers)

    assert counts(first, "seen", "new", "in_progress") == (1, 0, 1)
    assert counts(second, "seen", "new", "applied", "in_progress") == (1, 1, 1, 0)
    assert granted(simulator, PETRA, LASER) == [str(taking.link_result_id)]


def test_a_result_awaiting_grading_is_stored_and_only_the_graded_one_counts(
    client: FlaskClient,
    bridge: Bridge,
    account: ClassMarkerAccount,
    simulator: FabmanSimulator,
    clock: SettableClock,
    cron_headers: dict[str, str],
) -> None:
    ungraded = account.take_quiz(token(bridge, PETRA, LASER), percentage=40, requires_grading=True)
    first = reconcile(client, cron_headers)
    clock.advance(hours=3)
    account.take_quiz(token(bridge, MARKETA, SAFETY), quiz=quiz_of(SAFETY))  # the watermark moves on past the ungraded result
    reconcile(client, cron_headers)
    clock.advance(hours=3)
    account.grade(ungraded.link_result_id, percentage=85)  # graded; its finish time stays where it was

    third = reconcile(client, cron_headers)

    assert counts(first, "new", "applied", "awaiting_grading") == (1, 0, 1)
    assert counts(third, "new", "applied", "awaiting_grading") == (1, 1, 0)
    assert third["finished_after"] == (ungraded.time_finished or 0) - 1
    assert sorted((e.result_key, e.status) for e in bridge.store.inbox.events() if e.member_id == PETRA) == [
        (f"{ungraded.link_result_id}", "applied"),
        (f"{ungraded.link_result_id}:ungraded", "awaiting_grading"),
    ]
    assert granted(simulator, PETRA, LASER) == [str(ungraded.link_result_id)]
    assert failed_attempts(simulator, PETRA, LASER) == 0


def test_a_result_without_cm_user_id_is_not_stored(
    client: FlaskClient, bridge: Bridge, account: ClassMarkerAccount, cron_headers: dict[str, str]
) -> None:
    account.take_quiz(None)

    summary = reconcile(client, cron_headers)

    assert counts(summary, "seen", "new", "ignored", "gap") == (1, 0, 1, 0)
    assert bridge.store.inbox.events() == []


def test_a_result_whose_cm_user_id_does_not_decrypt_is_rejected_like_a_webhook_s(
    client: FlaskClient, bridge: Bridge, account: ClassMarkerAccount, smtp: SmtpSink, cron_headers: dict[str, str]
) -> None:
    account.take_quiz("not-a-fernet-token")

    summary = reconcile(client, cron_headers)

    assert counts(summary, "new", "applied", "rejected") == (1, 0, 1)
    assert [(e.status, e.source) for e in bridge.store.inbox.events()] == [("rejected", "poll")]
    assert any("rejected" in s for s in subjects(smtp, STAFF))


def test_what_fabman_refuses_stays_queued_and_the_retry_job_applies_it(
    client: FlaskClient,
    bridge: Bridge,
    account: ClassMarkerAccount,
    simulator: FabmanSimulator,
    cron_headers: dict[str, str],
) -> None:
    taken = account.take_quiz(token(bridge, PETRA, LASER))
    simulator.faults.down = True

    summary = reconcile(client, cron_headers)

    assert counts(summary, "new", "applied", "queued") == (1, 0, 1)
    assert [e.status for e in bridge.store.inbox.events()] == ["queued"]
    simulator.faults.down = False
    assert client.post("/cron/retry", headers=cron_headers).json["applied"] == 1
    assert granted(simulator, PETRA, LASER) == [str(taken.link_result_id)]


# -- where a run starts, paging, --since -------------------------------------------------


def test_the_watermark_is_the_newest_result_seen_minus_an_hour_and_at_most_14_days_back(
    client: FlaskClient,
    bridge: Bridge,
    account: ClassMarkerAccount,
    classmarker: ClassMarkerApiSimulator,
    clock: SettableClock,
    cron_headers: dict[str, str],
) -> None:
    now = clock.now()
    taken = account.take_quiz(token(bridge, PETRA, LASER), finished_at=now - dt.timedelta(hours=3))
    account.take_quiz(
        token(bridge, EVA, SOLDERING), quiz=quiz_of(SOLDERING), in_progress=True
    )  # started later; never moves the watermark

    first = reconcile(client, cron_headers)
    second = reconcile(client, cron_headers)
    clock.advance(days=20)
    third = reconcile(client, cron_headers)

    fourteen_days = int((now - dt.timedelta(days=14)).timestamp())
    assert first["finished_after"] == fourteen_days
    assert second["finished_after"] == (taken.time_finished or 0) - 3600
    assert third["finished_after"] == int((clock.now() - dt.timedelta(days=14)).timestamp())
    asked = [r.finished_after for r in classmarker.requests]
    assert asked == [str(fourteen_days), str(second["finished_after"]), str(third["finished_after"])]


def test_pages_are_followed_to_the_end_and_overlaps_are_applied_once(
    client: FlaskClient,
    bridge: Bridge,
    account: ClassMarkerAccount,
    classmarker: ClassMarkerApiSimulator,
    simulator: FabmanSimulator,
    clock: SettableClock,
    cron_headers: dict[str, str],
) -> None:
    members = [PETRA, MARKETA, EVA, 14, 15]
    start = clock.now() - dt.timedelta(minutes=50)
    taken = [
        account.take_quiz(
            token(bridge, member, SOLDERING), quiz=quiz_of(SOLDERING), finished_at=start + dt.timedelta(minutes=minutes)
        )
        for minutes, member in enumerate(members)
    ]
    classmarker.page_limit, classmarker.overlap = 2, 1

    summary = reconcile(client, cron_headers)

    assert counts(summary, "pages", "seen", "new", "applied") == (4, 5, 5, 5)
    assert sum(r.returned for r in classmarker.requests) == 8  # three results came twice
    assert [granted(simulator, member, SOLDERING) for member in members] == [[str(r.link_result_id)] for r in taken]


def test_since_goes_further_back_than_the_watermark(
    client: FlaskClient,
    runner: FlaskCliRunner,
    bridge: Bridge,
    account: ClassMarkerAccount,
    simulator: FabmanSimulator,
    clock: SettableClock,
    cron_headers: dict[str, str],
) -> None:
    old = account.take_quiz(token(bridge, PETRA, LASER), finished_at=clock.now() - dt.timedelta(days=20))

    assert reconcile(client, cron_headers)["seen"] == 0
    since = (old.time_finished or 0) - 60
    result = runner.invoke(args=["reconcile", "--since", str(since)])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert counts(summary, "finished_after", "seen", "new", "applied") == (since, 1, 1, 1)
    assert granted(simulator, PETRA, LASER) == [str(old.link_result_id)]


def test_since_on_the_endpoint_and_as_a_date_on_the_cli(
    client: FlaskClient,
    runner: FlaskCliRunner,
    bridge: Bridge,
    account: ClassMarkerAccount,
    classmarker: ClassMarkerApiSimulator,
    cron_headers: dict[str, str],
) -> None:
    assert reconcile(client, cron_headers, since="1763000000")["finished_after"] == 1763000000
    result = runner.invoke(args=["reconcile", "--since", "2025-11-20T10:00:00+00:00"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["finished_after"] == 1763632800
    assert [r.finished_after for r in classmarker.requests] == ["1763000000", "1763632800"]


@pytest.mark.parametrize("since", ["", "yesterday", "-5", "1.5", "0x10", "١٢٣", "1763712000000"])
def test_an_unreadable_since_is_400_naming_it(
    client: FlaskClient, classmarker: ClassMarkerApiSimulator, cron_headers: dict[str, str], since: str
) -> None:
    body = problem(client.post("/cron/reconcile", headers=cron_headers, query_string={"since": since}), 400)

    assert "since" in body["detail"] and body["field"] == "since"
    assert classmarker.requests == []


def test_an_unreadable_since_on_the_cli_is_a_usage_error(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["reconcile", "--since", "last week"])

    assert result.exit_code == 2 and "--since" in result.output


# -- ClassMarker's errors and the request budget ---------------------------------------


@pytest.mark.parametrize(
    ("fault", "stopped"),
    [
        (lambda api: api.fail_next(code="internal_error", message="Temporary error"), "error: "),
        (lambda api: setattr(api, "request_limit", 0), "request_limit_reached"),
        (lambda api: api.break_next(status=502), "unavailable"),
    ],
    ids=["error answer", "request limit", "http error"],
)
def test_an_error_answer_stops_the_run_which_records_why_and_the_next_run_goes_on(
    client: FlaskClient,
    bridge: Bridge,
    account: ClassMarkerAccount,
    classmarker: ClassMarkerApiSimulator,
    simulator: FabmanSimulator,
    clock: SettableClock,
    cron_headers: dict[str, str],
    fault: Any,
    stopped: str,
) -> None:
    taken = account.take_quiz(token(bridge, PETRA, LASER))
    fault(classmarker)

    failed = reconcile(client, cron_headers)
    ready = client.get("/ready").json["reconciliation"]
    classmarker.request_limit = None
    clock.advance(minutes=15)
    recovered = reconcile(client, cron_headers)

    assert counts(failed, "pages", "new", "complete") == (0, 0, False) and stopped in failed["stopped"]
    assert len(classmarker.requests) == 2  # one per run: no hammering
    assert ready["last_run"]["complete"] is False and stopped in ready["last_run"]["stopped"]
    assert counts(recovered, "new", "applied", "complete", "stopped") == (1, 1, True, None)
    assert granted(simulator, PETRA, LASER) == [str(taken.link_result_id)]


def test_a_stopped_run_keeps_what_earlier_pages_brought_and_the_cli_exits_1(
    runner: FlaskCliRunner,
    bridge: Bridge,
    account: ClassMarkerAccount,
    classmarker: ClassMarkerApiSimulator,
    simulator: FabmanSimulator,
    clock: SettableClock,
) -> None:
    for minutes, member in enumerate((PETRA, MARKETA, EVA)):
        account.take_quiz(
            token(bridge, member, SOLDERING),
            quiz=quiz_of(SOLDERING),
            finished_at=clock.now() - dt.timedelta(minutes=30 - minutes),
        )
    classmarker.page_limit = 1
    classmarker.request_limit = 1

    result = runner.invoke(args=["reconcile"])

    assert result.exit_code == 1
    summary = json.loads(result.output)
    assert counts(summary, "pages", "new", "applied", "complete") == (1, 1, 1, False)
    assert summary["stopped"].startswith("request_limit_reached")
    assert [len(granted(simulator, m, SOLDERING)) for m in (PETRA, MARKETA, EVA)] == [1, 0, 0]


def test_at_most_20_requests_an_hour_are_made_by_all_bridges_together(
    reconciling: Any,
    clock: SettableClock,
    account: ClassMarkerAccount,
    classmarker: ClassMarkerApiSimulator,
    simulator: FabmanSimulator,
    cron_headers: dict[str, str],
) -> None:
    first, second = reconciling(clock), reconciling(clock)  # two instances sharing one store
    codec = bridge_of(first).codec
    for minute in range(25):
        member = 14 + minute % 10
        finished = clock.now() - dt.timedelta(minutes=60 - minute)
        course = SOLDERING if minute < 10 else SAFETY
        account.take_quiz(codec.encode(member, course), quiz=quiz_of(course), finished_at=finished)
    classmarker.page_limit, classmarker.overlap = 1, 0

    one = reconcile(first.test_client(), cron_headers)
    two = reconcile(second.test_client(), cron_headers)
    clock.advance(minutes=30)
    three = reconcile(second.test_client(), cron_headers)
    clock.advance(minutes=31)
    four = reconcile(first.test_client(), cron_headers)

    assert counts(one, "pages", "new", "applied", "complete") == (20, 20, 20, False) and one["stopped"].startswith("budget")
    assert counts(two, "pages", "complete") == (0, False) and two["stopped"].startswith("budget")
    assert counts(three, "pages", "complete") == (0, False)
    assert counts(four, "pages", "new", "applied", "complete") == (5, 5, 5, True)  # on from where the budget stopped one
    assert len(classmarker.requests) == 25
    assert len(bridge_of(first).store.inbox.events()) == 25


# -- the webhook gap -----------------------------------------------------------------


def test_a_growing_gap_alerts_staff_once_a_day(
    client: FlaskClient,
    bridge: Bridge,
    account: ClassMarkerAccount,
    smtp: SmtpSink,
    clock: SettableClock,
    cron_headers: dict[str, str],
) -> None:
    today = dt.datetime.now(PRAGUE).date()
    clock.set(dt.datetime.combine(today, dt.time(9, 0), PRAGUE))  # the day's date stays put for two hours
    account.take_quiz(token(bridge, PETRA, LASER))
    first = reconcile(client, cron_headers)
    clock.advance(hours=1)
    account.take_quiz(token(bridge, MARKETA, SAFETY), quiz=quiz_of(SAFETY))
    second = reconcile(client, cron_headers)
    clock.advance(hours=1)
    quiet = reconcile(client, cron_headers)

    assert counts(first, "new", "gap") == (1, 1) and counts(second, "new", "gap") == (1, 2)
    assert counts(quiet, "new", "gap") == (0, 2)
    assert subjects(smtp, STAFF) == [f"[FabLab Bridge] {GAP_SUBJECT}"]
    [alert] = smtp.to(STAFF)
    assert "CLASSMARKER_WEBHOOK_SECRET" in text_of(alert) and "/add_classmarker_training" in text_of(alert)

    clock.advance(days=1)
    account.take_quiz(token(bridge, EVA, SOLDERING), quiz=quiz_of(SOLDERING))
    next_day = reconcile(client, cron_headers)

    assert counts(next_day, "new", "gap", "gap_total") == (1, 1, 3)
    assert subjects(smtp, STAFF) == [f"[FabLab Bridge] {GAP_SUBJECT}"] * 2
    assert to_json(bridge.webhook_gap()) == {"last_24h": 1, "total": 3, "last_found_at": clock.now().isoformat()}


def test_ready_and_jobs_show_the_last_run_and_the_gap(
    client: FlaskClient,
    bridge: Bridge,
    account: ClassMarkerAccount,
    clock: SettableClock,
    cron_headers: dict[str, str],
) -> None:
    before = client.get("/ready").json["reconciliation"]
    account.take_quiz(token(bridge, PETRA, LASER))
    reconcile(client, cron_headers)

    ready = client.get("/ready").json
    jobs = {job["name"]: job for job in client.get("/admin/jobs", headers={"Authorization": bridge.settings.fabman_api_key}).json}

    assert before["last_run"] is None and before["webhook_gap"] == {"last_24h": 0, "total": 0, "last_found_at": None}
    assert ready["status"] == "ready" and ready["checks"]["store"] is True
    section = ready["reconciliation"]
    assert section["enabled"] is True and section["last_run"]["complete"] is True
    assert section["webhook_gap"] == {"last_24h": 1, "total": 1, "last_found_at": clock.now().isoformat()}
    assert section["requests_last_hour"] == 1 and section["requests_per_hour"] == 20
    assert ready["jobs"]["reconciliation"]["last_run"]["ok"] is True
    assert jobs["reconciliation"]["last_run"]["by"] == "cron"
    assert jobs["reconciliation"]["last_run"]["summary"]["gap"] == 1


# -- off without credentials; nothing secret leaks --------------------------------------


@pytest.mark.parametrize(
    ("removed", "named"),
    [
        (("CLASSMARKER_API_KEY", "CLASSMARKER_API_SECRET"), "CLASSMARKER_API_KEY and CLASSMARKER_API_SECRET"),
        (("CLASSMARKER_API_SECRET",), "CLASSMARKER_API_SECRET"),
    ],
)
def test_reconciliation_is_off_without_the_api_credentials(
    reconciling: Any,
    clock: SettableClock,
    classmarker: ClassMarkerApiSimulator,
    cron_headers: dict[str, str],
    removed: tuple[str, ...],
    named: str,
) -> None:
    app: Flask = reconciling(clock, **dict.fromkeys(removed))

    body = problem(app.test_client().post("/cron/reconcile", headers=cron_headers), 503)
    result = app.test_cli_runner().invoke(args=["reconcile"])

    assert named in body["detail"] and "reconciliation is off" in body["detail"]
    assert result.exit_code == 1 and named in result.output
    assert app.test_client().get("/ready").json["reconciliation"]["enabled"] is False
    assert classmarker.requests == []
    assert bridge_of(app).store.jobs.runs(name="reconciliation") == []


def test_the_endpoint_needs_the_cron_token(client: FlaskClient, classmarker: ClassMarkerApiSimulator) -> None:
    problem(client.post("/cron/reconcile", headers={"CronjobToken": "wrong"}), 401)
    assert classmarker.requests == []


def test_the_api_credentials_appear_in_no_log_answer_or_record(
    client: FlaskClient,
    bridge: Bridge,
    account: ClassMarkerAccount,
    classmarker: ClassMarkerApiSimulator,
    smtp: SmtpSink,
    caplog: pytest.LogCaptureFixture,
    cron_headers: dict[str, str],
) -> None:
    caplog.set_level(logging.DEBUG)
    account.take_quiz(token(bridge, PETRA, LASER), api_omits={"passed", "percentage_passmark"})
    classmarker.fail_next(code="invalid_api_key", message=f"API key {account.api_key} is not valid")
    texts = [json.dumps(reconcile(client, cron_headers))]
    texts.append(json.dumps(reconcile(client, cron_headers)))
    classmarker.stop()
    texts.append(json.dumps(reconcile(client, cron_headers)))
    logged = [r.getMessage() for r in caplog.records if not r.name.startswith(("sandbox.simulator", "werkzeug"))]
    texts += [client.get("/ready").get_data(as_text=True), *logged, repr(bridge.settings)]
    texts += [f"{m['Subject']} {text_of(m)}" for m in smtp.messages]
    texts += [json.dumps(run.summary) + str(run.error) for run in bridge.store.jobs.runs(name="reconciliation")]

    for text in texts:
        assert account.api_key not in text and account.api_secret not in text
        assert "signature=" not in text


def test_the_weekly_digest_shows_the_gap_when_reconciliation_is_on(
    client: FlaskClient, bridge: Bridge, account: ClassMarkerAccount, clock: SettableClock, cron_headers: dict[str, str]
) -> None:
    account.take_quiz(token(bridge, PETRA, LASER))
    reconcile(client, cron_headers)

    digest = to_json(bridge.digest(dry_run=True))

    assert digest["webhook_gap_measured"] is True
    assert digest["webhook_gap"] == {"last_24h": 1, "total": 1, "last_found_at": clock.now().isoformat()}
