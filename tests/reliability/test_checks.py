"""The reliability run's accounting: a lost or doubled effect is always counted, never excused."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import Any

import pytest

from reliability.checks import (
    JobSpan,
    PlannedResult,
    Tally,
    check_creations,
    check_expiry,
    check_job_overlaps,
    check_mails,
    check_results,
    created_records,
    expected_result_mails,
    expiry_plan,
    mail_kind,
)
from reliability.scenarios import plan_results
from reliability.world import owner_pid
from sandbox.simulator import SimState
from sandbox.simulator.requests_log import LoggedRequest

TODAY = dt.date(2026, 3, 10)


Json = dict[str, Any]


def member(member_id: int, *, records: list[Json] | None = None, metadata: Json | None = None) -> Json:
    return {
        "id": member_id,
        "emailAddress": f"m{member_id}@example.org",
        "metadata": metadata,
        "_embedded": {"trainings": records or []},
    }


def record(record_id: int, course: int, *, result: str | None = None, until: str | None = None) -> dict[str, Any]:
    notes = f"Online quiz passed. ClassMarker result #{result}." if result else None
    return {"id": record_id, "trainingCourse": course, "notes": notes, "untilDate": until}


def failed(course: int, attempts: int, counted: list[str]) -> dict[str, Any]:
    entry = {"id": course, "title": "Laser", "attempts": attempts}
    return {"courses_cm": {"failed_courses": [entry], "counted_results": counted}}


PASS = PlannedResult("501", 1, 7, "Laser", True, "m1@example.org", True, "granted")
FAIL = PlannedResult("502", 2, 7, "Laser", False, "m2@example.org", False, "failed")


def test_a_pass_applied_once_and_a_fail_counted_once_are_clean() -> None:
    tally = Tally("t")
    before = {1: member(1), 2: member(2)}
    after = {1: member(1, records=[record(10, 7, result="501")]), 2: member(2, metadata=failed(7, 1, ["502"]))}
    check_results(tally, [PASS, FAIL], before, after, {7: 3}, {"501": "applied", "502": "applied"})
    assert (tally.results_expected, tally.results_applied, tally.duplicates, tally.lost) == (2, 2, 0, 0)
    assert tally.ok


def test_a_pass_granted_twice_is_a_duplicate() -> None:
    tally = Tally("t")
    after = {1: member(1, records=[record(10, 7, result="501"), record(11, 7, result="501")])}
    check_results(tally, [PASS], {1: member(1)}, after, {7: 3}, {"501": "applied"})
    assert tally.duplicates == 1
    assert not tally.ok


def test_a_pass_without_its_record_is_lost_even_when_the_inbox_says_applied() -> None:
    tally = Tally("t")
    check_results(tally, [PASS], {1: member(1)}, {1: member(1)}, {7: 3}, {"501": "applied"})
    assert tally.lost == 1
    assert not tally.ok


def test_a_fail_counted_twice_is_a_duplicate() -> None:
    tally = Tally("t")
    after = {2: member(2, metadata=failed(7, 2, ["502", "502"]))}
    check_results(tally, [FAIL], {2: member(2)}, after, {7: 3}, {"502": "applied"})
    assert tally.duplicates >= 1
    assert any("expected 0 + 1" in p for p in tally.problems)


def test_an_event_left_queued_is_a_problem() -> None:
    tally = Tally("t")
    after = {2: member(2, metadata=failed(7, 1, ["502"]))}
    check_results(tally, [FAIL], {2: member(2)}, after, {7: 3}, {"502": "queued"})
    assert not tally.ok


def test_mail_counts_extra_as_duplicates_and_missing_as_lost_ignoring_staff_alerts() -> None:
    tally = Tally("t")
    expected = expected_result_mails([PASS, FAIL])
    received = [
        ("m1@example.org", "Školení splněno: Laser / Training completed: Laser"),
        ("m1@example.org", "Školení splněno: Laser / Training completed: Laser"),
        ("staff@fablab.example", "[FabLab Bridge] Passed quiz without attempts left"),
    ]
    check_mails(tally, expected, received, ("granted", "failed", "out_of_attempts"))
    assert (tally.mails_expected, tally.mails_delivered, tally.duplicates, tally.lost) == (2, 1, 1, 1)


def test_an_unexpected_error_mail_counts_against_the_run() -> None:
    tally = Tally("t")
    received = [("m2@example.org", "Problém se zpracováním výsledku: Laser / Problem processing your result: Laser")]
    check_mails(tally, {}, received, ("failed",))
    assert tally.duplicates == 1
    assert mail_kind(received[0][1]) == "error"


def test_expiry_counts_missed_and_wrongly_removed_records_as_lost() -> None:
    before = [
        member(1, records=[record(1, 7, until="2026-03-10"), record(2, 7, until="2026-03-11"), record(3, 8)]),
        member(2, records=[record(4, 8, until="2026-03-20"), record(5, 9, until="2026-01-01")]),
    ]
    expired, mails = expiry_plan(before, TODAY, 14, remindable_courses={8})
    assert expired == {1: {1}, 2: {5}}
    assert mails == {"m1@example.org": Counter(expired=1), "m2@example.org": Counter(expired=1, reminder=1)}
    tally = Tally("t")
    after = {1: member(1, records=[record(3, 8)]), 2: member(2, records=[record(4, 8), record(5, 9)])}
    check_expiry(tally, before, after, expired)
    assert (tally.results_expected, tally.results_applied, tally.lost) == (2, 1, 2)


def test_planned_results_expect_what_the_members_attempts_allow() -> None:
    state = SimState()
    online = {"courses_cm": {"cm_url": "https://www.classmarker.com/online-test/start/?quiz=x"}}
    course = state.add_course("Laser", metadata=online)
    state.add_member("Out", "Of", "out@example.org", metadata=failed(course["id"], 3, []))
    kinds = set()
    for seed in range(12):
        (result,) = plan_results(state, 1, random.Random(seed))
        kinds.add(result.passed)
        assert not result.grants
        assert result.mail == "out_of_attempts"
    assert kinds == {True, False}
    with pytest.raises(ValueError, match="only 1 results fit"):
        plan_results(state, 3, random.Random(0))


def test_a_record_created_twice_and_removed_again_is_a_duplicate_only_the_request_log_shows() -> None:
    log = [
        LoggedRequest("POST", "/members/1/trainings", "", 201, 0.0),
        LoggedRequest("POST", "/members/1/trainings", "", 201, 0.1),
        LoggedRequest("DELETE", "/members/1/trainings/10", "", 204, 0.2),
        LoggedRequest("POST", "/members/2/trainings", "", 503, 0.3, injected=True),
        LoggedRequest("PUT", "/members/2", "", 200, 0.4),
    ]
    created = created_records(log)
    assert created == Counter({1: 2})
    tally = Tally("t")
    after = {1: member(1, records=[record(11, 7, result="501")])}
    check_creations(tally, [PASS, FAIL], created, after)
    assert tally.duplicates == 1
    assert "created 2 training records for 1 passes" in tally.problems[0]


def test_a_double_the_state_already_shows_is_not_counted_again_from_the_log() -> None:
    tally = Tally("t")
    after = {1: member(1, records=[record(10, 7, result="501"), record(11, 7, result="501")])}
    check_creations(tally, [PASS], Counter({1: 2}), after)
    assert (tally.duplicates, tally.problems) == (0, [])


def at(second: int) -> dt.datetime:
    return dt.datetime(2026, 3, 10, 12, 0, second, tzinfo=dt.UTC)


def test_job_runs_one_after_another_on_different_workers_do_not_overlap() -> None:
    runs = [
        JobSpan("retry", "host:11:aaaaaaaa", at(0), at(2)),
        JobSpan("retry", "host:22:bbbbbbbb", at(2), at(5)),
        JobSpan("retry", "host:11:aaaaaaaa", at(6), None),
        JobSpan("expiry_sweep", "host:22:bbbbbbbb", at(6), at(9)),
    ]
    tally = Tally("t")
    assert check_job_overlaps(tally, runs, {}, at(7)) == 0
    assert tally.ok


def test_a_job_run_on_a_second_worker_before_the_first_ended_is_an_overlap() -> None:
    tally = Tally("t")
    runs = [JobSpan("retry", "host:11:aaaaaaaa", at(0), at(4)), JobSpan("retry", "host:22:bbbbbbbb", at(3), at(5))]
    assert check_job_overlaps(tally, runs, {}, at(9)) == 1
    assert "ran on host:11:aaaaaaaa" in tally.problems[0]
    assert not tally.ok


def test_an_unfinished_run_lasts_until_its_process_ended_or_until_now() -> None:
    killed = [JobSpan("retry", "host:11:aaaaaaaa", at(0), None), JobSpan("retry", "host:22:bbbbbbbb", at(10), at(11))]
    assert check_job_overlaps(Tally("t"), killed, {"host:11:aaaaaaaa": at(5)}, at(20)) == 0
    assert check_job_overlaps(Tally("t"), killed, {}, at(20)) == 1


def test_the_owner_of_an_in_process_run_names_its_process_and_a_scheduler_run_names_none() -> None:
    assert owner_pid("web-1.internal:4242:0f3a9c1e") == 4242
    assert owner_pid("cron") is None
    assert owner_pid("cli") is None


def test_a_member_gets_one_combined_reminder_and_none_for_a_record_already_renewed() -> None:
    soon = [record(1, 7, until="2026-03-12"), record(2, 8, until="2026-03-20"), record(3, 9, until="2026-03-15")]
    renewed = [record(4, 7, until="2026-03-12"), record(5, 7, until="2027-03-12")]
    members = [member(1, records=soon), member(2, records=renewed)]
    _, mails = expiry_plan(members, TODAY, 14, remindable_courses={7, 8})
    assert mails == {"m1@example.org": Counter(reminder=1)}
    assert mail_kind("Platnost školení brzy skončí: A, B / Trainings expire soon: A, B") == "reminder"
