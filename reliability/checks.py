"""What the world should show after a scenario, and how far it does.

Pure functions over plain data (member JSON as the simulator keeps it, mail
as the SMTP server received it, inbox rows), so the accounting itself is
tested without starting anything. Expectations are derived from the state
before the run and the results sent; nothing here trusts the bridge's
answers.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.domain import attempts
from bridge.domain.results import notes_name_result

Json = dict[str, Any]

# The English half of each member mail's subject (templates/mail/*.txt).
MAIL_KINDS = {
    "Training completed": "granted",
    "Quiz not passed": "failed",
    "No attempts left": "out_of_attempts",
    "Problem processing": "error",
    "Training expired": "expired",
    "Training expires soon": "reminder",
    "Trainings expire soon": "reminder",
}
MAX_PROBLEMS = 8
TRAINING_POST = re.compile(r"/members/(\d+)/trainings")


def mail_kind(subject: str) -> str:
    """Which member mail a subject belongs to ("other" for staff alerts and the unknown)."""
    return next((kind for phrase, kind in MAIL_KINDS.items() if phrase in subject), "other")


@dataclass(frozen=True)
class PlannedResult:
    """One ClassMarker result the run sends, and the effect it must have exactly once.

    `grants` says a training record naming the result must exist afterwards;
    `mail` is the member mail it must cause.
    """

    result_id: str
    member_id: int
    course_id: int
    course_title: str
    passed: bool
    email: str
    grants: bool
    mail: str


@dataclass
class Tally:
    """One row of the table: what a scenario expected and what the world shows."""

    scenario: str
    store: str = "sqlite"
    requests: int = 0
    faults: int = 0
    results_expected: int = 0
    results_applied: int = 0
    duplicates: int = 0
    mails_expected: int = 0
    mails_delivered: int = 0
    lost: int = 0
    max_latency: float = 0.0
    seconds: float = 0.0
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        """Record a broken guarantee (the first few are kept verbatim, the rest counted)."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)
        elif len(self.problems) == MAX_PROBLEMS:
            self.problems.append("... more problems not shown")

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing doubled, no other guarantee broken."""
        return self.lost == 0 and self.duplicates == 0 and not self.problems


# -- results -------------------------------------------------------------------


def records(member: Json) -> list[Json]:
    """The member's training records as embedded by the simulator."""
    return list((member.get("_embedded") or {}).get("trainings") or [])


def counted_ids(member: Json) -> list[str]:
    """Result ids remembered in the member's metadata as already counted (duplicates kept)."""
    section = (member.get("metadata") or {}).get("courses_cm")
    counted = section.get("counted_results") if isinstance(section, dict) else None
    return [str(x) for x in counted] if isinstance(counted, list) else []


def check_results(
    tally: Tally,
    planned: Iterable[PlannedResult],
    before: Mapping[int, Json],
    after: Mapping[int, Json],
    allowed: Mapping[int, int],
    inbox: Mapping[str, str],
) -> None:
    """Count applied, lost and doubled results from Fabman's state and the inbox.

    `before`/`after`: member JSON (with embedded trainings) per member id;
    `allowed`: attempts per course id; `inbox`: status per result key.
    """
    planned = list(planned)
    fails_per_pair: Counter[tuple[int, int]] = Counter()
    for result in planned:
        tally.results_expected += 1
        member = after[result.member_id]
        if result.passed:
            naming = [r for r in records(member) if notes_name_result(r.get("notes"), result.result_id)]
            if result.grants:
                _count(tally, len(naming), f"pass {result.result_id}: {len(naming)} training records name it")
                same_course = [r for r in records(member) if r.get("trainingCourse") == result.course_id]
                if naming and len(same_course) != 1:
                    tally.problem(f"member {result.member_id} keeps {len(same_course)} records of course {result.course_id}")
                if attempts.has_failed_entry(member.get("metadata"), result.course_id):
                    tally.problem(f"pass {result.result_id}: failed attempts of course {result.course_id} not cleared")
            elif naming:
                tally.duplicates += len(naming)
                tally.problem(f"pass {result.result_id} without attempts left was granted")
            elif inbox.get(result.result_id) == "applied":
                tally.results_applied += 1
            else:
                tally.lost += 1
                tally.problem(f"blocked pass {result.result_id} is {inbox.get(result.result_id, 'missing')} in the inbox")
        else:
            fails_per_pair[(result.member_id, result.course_id)] += 1
            seen = counted_ids(member).count(result.result_id)
            _count(tally, seen, f"fail {result.result_id}: counted {seen} times")
    for (member_id, course_id), fails in fails_per_pair.items():
        used_before = attempts.attempts_used(before[member_id].get("metadata"), course_id)
        used_after = attempts.attempts_used(after[member_id].get("metadata"), course_id)
        if used_after != used_before + fails:
            tally.problem(
                f"member {member_id} course {course_id}: {used_after} attempts, expected {used_before} + {fails} failed"
            )
            if used_after > used_before + fails:
                tally.duplicates += used_after - used_before - fails
    for key, status in sorted(inbox.items()):
        if status not in ("applied", "awaiting_grading"):
            tally.problem(f"inbox event for result {key} ended {status}")


def _count(tally: Tally, seen: int, text: str) -> None:
    if seen == 1:
        tally.results_applied += 1
        return
    if seen == 0:
        tally.lost += 1
    else:
        tally.duplicates += seen - 1
    tally.problem(text)


def created_records(requests: Iterable[Any]) -> Counter[int]:
    """Training records Fabman created per member, from its request log (POSTs to a member's trainings answered 2xx).

    Only true when no fault replaced the answer of an applied POST (`after_apply` rules), which the log cannot show.
    """
    created: Counter[int] = Counter()
    for request in requests:
        match = TRAINING_POST.fullmatch(request.path)
        if request.method == "POST" and match and request.status < 300:
            created[int(match.group(1))] += 1
    return created


def check_creations(
    tally: Tally, planned: Iterable[PlannedResult], created: Mapping[int, int], after: Mapping[int, Json]
) -> None:
    """Every granting pass created exactly one record, counted from Fabman's request log.

    A record created twice for one result and then removed again (each run
    deleting the other's as "older") leaves one record in Fabman's state, so
    the state alone cannot show it; the log can. Doubles the state already
    shows (two records naming one result) are not counted again.
    """
    grants: Counter[int] = Counter()
    naming: dict[int, set[str]] = {}
    for result in planned:
        if result.grants:
            grants[result.member_id] += 1
            naming.setdefault(result.member_id, set()).add(result.result_id)
    for member_id in sorted(set(grants) | set(created)):
        extra = created.get(member_id, 0) - grants[member_id]
        if extra <= 0:
            continue
        results = naming.get(member_id, set())
        records_left = records(after[member_id]) if member_id in after else []
        visible = sum(1 for r in records_left for result_id in results if notes_name_result(r.get("notes"), result_id))
        hidden = extra - max(0, visible - grants[member_id])
        if hidden > 0:
            tally.duplicates += hidden
            tally.problem(
                f"member {member_id}: Fabman created {created[member_id]} training records for {grants[member_id]} passes"
            )


def expected_result_mails(planned: Iterable[PlannedResult]) -> dict[str, Counter[str]]:
    """Member mail kinds expected per address."""
    expected: dict[str, Counter[str]] = {}
    for result in planned:
        expected.setdefault(result.email, Counter())[result.mail] += 1
    return expected


def check_mails(
    tally: Tally, expected: Mapping[str, Counter[str]], received: Iterable[tuple[str, str]], kinds: Iterable[str]
) -> None:
    """Compare expected mail kinds per address with (recipient, subject) pairs received.

    Only mails of `kinds` count: a scenario about results ignores expiry
    mail and staff alerts. A mail received that was not expected is a
    duplicate, one expected and never received is lost.
    """
    wanted = set(kinds)
    got: dict[str, Counter[str]] = {}
    for recipient, subject in received:
        kind = mail_kind(subject)
        if kind in wanted or kind == "error":
            got.setdefault(recipient, Counter())[kind] += 1
    for address in sorted(set(expected) | set(got)):
        want, have = expected.get(address, Counter()), got.get(address, Counter())
        for kind in sorted(set(want) | set(have)):
            tally.mails_expected += want[kind]
            tally.mails_delivered += min(want[kind], have[kind])
            if have[kind] > want[kind]:
                tally.duplicates += have[kind] - want[kind]
                tally.problem(f"{address}: {have[kind]} {kind} mails, expected {want[kind]}")
            elif have[kind] < want[kind]:
                tally.lost += want[kind] - have[kind]
                tally.problem(f"{address}: {have[kind]} {kind} mails, expected {want[kind]}")


# -- expiry --------------------------------------------------------------------


def _until(record: Json) -> dt.date | None:
    value = record.get("untilDate")
    return dt.date.fromisoformat(value) if value else None


def _superseded(record: Json, held: list[Json]) -> bool:
    """Another record of the same course lasts longer, or forever: the member renewed already."""
    until = _until(record)
    return until is not None and any(
        other["id"] != record["id"]
        and other.get("trainingCourse") == record.get("trainingCourse")
        and (_until(other) is None or _until(other) > until)  # type: ignore[operator]
        for other in held
    )


def expiry_plan(
    members: Iterable[Json], today: dt.date, reminder_days: int, remindable_courses: set[int]
) -> tuple[dict[int, set[int]], dict[str, Counter[str]]]:
    """Expired record ids per member, and the expiry and reminder mails expected per address.

    Expired: `untilDate` not later than today; each is one expiry mail. A
    member gets one combined reminder when a record of a course still in use
    (`remindable_courses`) ends within `reminder_days` after today and no
    longer record of the same course supersedes it.
    """
    expired: dict[int, set[int]] = {}
    mails: dict[str, Counter[str]] = {}
    horizon = today + dt.timedelta(days=reminder_days)
    for member in members:
        address = member.get("emailAddress") or ""
        held = records(member)
        reminded = False
        for record in held:
            until = _until(record)
            if until is None:
                continue
            if until <= today:
                expired.setdefault(member["id"], set()).add(record["id"])
                mails.setdefault(address, Counter())["expired"] += 1
            elif until <= horizon and record["trainingCourse"] in remindable_courses and not _superseded(record, held):
                reminded = True
        if reminded:
            mails.setdefault(address, Counter())["reminder"] += 1
    return expired, mails


def check_expiry(tally: Tally, before: Iterable[Json], after: Mapping[int, Json], expired: Mapping[int, set[int]]) -> None:
    """Every expired record removed, every other record kept."""
    for member in before:
        remaining = {r["id"] for r in records(after[member["id"]])}
        due = expired.get(member["id"], set())
        tally.results_expected += len(due)
        tally.results_applied += len(due - remaining)
        missed = due & remaining
        if missed:
            tally.lost += len(missed)
            tally.problem(f"member {member['id']}: expired records {sorted(missed)} still in Fabman")
        wrongly = {r["id"] for r in records(member)} - due - remaining
        if wrongly:
            tally.lost += len(wrongly)
            tally.problem(f"member {member['id']}: active records {sorted(wrongly)} removed")


# -- jobs ------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSpan:
    """One recorded run of a job: who ran it, from when until when (`finished` None when it never finished)."""

    job: str
    owner: str
    started: dt.datetime
    finished: dt.datetime | None


def check_job_overlaps(tally: Tally, runs: Iterable[JobSpan], ended: Mapping[str, dt.datetime], now: dt.datetime) -> int:
    """No job ran on two owners at overlapping times; the number of overlaps found.

    A run that never finished lasted until its owner's process ended
    (`ended`, e.g. killed), or until `now` when that process still runs.
    """
    overlaps = 0
    by_job: dict[str, list[JobSpan]] = {}
    for run in runs:
        by_job.setdefault(run.job, []).append(run)
    for job, spans in sorted(by_job.items()):
        latest_end: dict[str, tuple[dt.datetime, JobSpan]] = {}
        for span in sorted(spans, key=lambda s: s.started):
            for owner, (end, other) in latest_end.items():
                if owner != span.owner and span.started < end:
                    overlaps += 1
                    tally.problem(
                        f"job {job} ran on {other.owner} from {other.started:%H:%M:%S.%f} and on {span.owner} "
                        f"from {span.started:%H:%M:%S.%f} at once"
                    )
            end = span.finished or ended.get(span.owner, now)
            if span.owner not in latest_end or latest_end[span.owner][0] < end:
                latest_end[span.owner] = (end, span)
    return overlaps
