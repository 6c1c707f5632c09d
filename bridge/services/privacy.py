"""Personal data (contract section 17): kept as long as needed, erased when the member is, shown on request.

Retention: raw webhook bodies go PAYLOAD_RETENTION_DAYS after their result
is final, sent mail bodies MAIL_RETENTION_DAYS after sending (the daily
`purge` job). Erasure: once Fabman confirms the member is gone (`GET
/members/{id}` answers 404), their name, e-mail, IP addresses, raw bodies and
mail bodies leave every table, their salt is deleted, an `erased` leaf is
appended and the staff log says what went, how much, and on whose word.
The pseudonymous evidence (ids, course, score, times) stays as proof.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from typing import Any

from bridge.adapters.fabman import FabmanNotFound
from bridge.answers import answer, described
from bridge.background import Job
from bridge.domain.evidence import EvidenceEvent, LeafFields, utc_text
from bridge.domain.schedule import DailyAt
from bridge.domain.statuses import FabmanOutcome
from bridge.errors import Conflict
from bridge.services.deps import Deps
from bridge.services.evidence import Evidence

log = logging.getLogger(__name__)

PURGE_AT = dt.time(3, 45)
"""When the daily purge runs (TIMEZONE): after the expiry sweep, before the FabLab opens."""
UTC = "UTC, ISO 8601 ending in Z (as the evidence log writes times); null when not known."
AT = "2026-12-07T01:45:00Z"


@answer
class PurgeSummary:
    """What a retention purge removed (section 17)."""

    payloads_purged: int = described(12, "Raw ClassMarker webhook bodies removed.")
    fabman_payloads_purged: int = described(3, "Bodies of Fabman's webhook events removed (handled or ignored ones).")
    mail_bodies_purged: int = described(40, "Bodies of sent mail removed.")
    payload_retention_days: int | None = described(100, "PAYLOAD_RETENTION_DAYS; null: off.")
    mail_retention_days: int | None = described(30, "MAIL_RETENTION_DAYS; null: off.")


@answer
class Erasure:
    """A member erased (`flask privacy erase`, or Fabman's `member_deleted`): when, on whose word, what went."""

    member_id: int = described(3)
    erased_at: str = described(AT, UTC)
    by: str = described("cli:staff")
    removed: dict[str, int] = described({"result_bodies": 2, "mails": 5}, "Rows or values removed, per kind.")


@answer
class ErasedMark:
    """When and by whom the member was erased."""

    at: str = described(AT, UTC)
    by: str = described("fabman event 80042")
    counts: dict[str, int] | None = described({"result_bodies": 2, "mails": 5})


@answer
class ExportedResult:
    """A ClassMarker result of the member, with its raw body until it is purged."""

    id: int = described(17)
    result_key: str = described("88123401")
    status: str = described("applied")
    outcome: str | None = described("granted")
    course_id: int | None = described(2)
    passed: bool | None = described(True)
    test_name: str | None = described("Laserová řezačka – bezpečnost")
    received_at: str | None = described(AT, UTC)
    source: str = described("webhook")
    payload: Any = described(None, "The body as received (JSON), or null once purged.")
    payload_purged_at: str | None = described(AT, UTC)
    payload_sha256: str | None = described("9f2c0d1e...", "SHA-256 of the body, kept after the purge.")


@answer
class ExportedMail:
    """A mail or alert the bridge queued about the member."""

    id: int = described(5)
    channel: str = described("mail")
    recipient: str | None = described("petra@example.org")
    subject: str | None = described("Training granted")
    status: str = described("sent")
    created_at: str | None = described(AT, UTC)
    sent_at: str | None = described(AT, UTC)
    body_text: str | None = described(None, "The text sent; null once purged.")
    body_purged_at: str | None = described(AT, UTC)


@answer
class ExportedLedgerRow:
    """A training the bridge granted the member, as its ledger recorded it."""

    result_id: str = described("88123401")
    course_id: int = described(2)
    course_title: str | None = described("Laserová řezačka")
    fabman_record_id: int | None = described(17)
    quiz_name: str | None = described("Laserová řezačka – bezpečnost")
    percentage: float | None = described(90.0)
    percentage_passmark: float | None = described(80.0)
    time_started: str | None = described(AT, UTC)
    time_finished: str | None = described(AT, UTC)
    training_date: str | None = described("2026-12-07")
    until_date: str | None = described("2027-12-07")
    granted_at: str | None = described(AT, UTC)


@answer
class ExportedLeaf:
    """One leaf of the evidence log about the member."""

    index: int = described(2)
    event: str = described("granted")
    leaf: Any = described({"event": "granted"}, "The leaf as JSON.")
    leaf_b64: str = described("eyJldmVudCI6ImdyYW50ZWQifQ==", "The leaf's exact bytes, base64.")


@answer
class ExportedFabmanEvent:
    """One of Fabman's webhook events about the member."""

    id: int = described(4)
    type: str = described("resourceLog_created")
    status: str = described("handled")
    received_at: str | None = described(AT, UTC)
    payload: Any = described(None, "The body as received (JSON), or null once purged.")


@answer
class ExportedStaffAction:
    """What staff did about the member (the staff log)."""

    at: str | None = described(AT, UTC)
    staff: str = described("staff@fablab.example")
    action: str = described("reset")
    target: str = described("member:3")
    detail: str | None = described("course 2: 3 -> 0")


@answer
class MemberExport:
    """Everything the bridge holds about one member (GDPR access): results with their raw bodies (until purged),
    mail, ledger rows, evidence leaves, Fabman events, staff log."""

    member_id: int = described(3)
    exported_at: str = described(AT, UTC)
    erased: ErasedMark | None = described(None, "Null unless the member was erased.")
    subject_salt_kept: bool = described(True, "Whether the salt of the member's evidence pseudonym is still held.")
    results: list[ExportedResult] = described([])
    mail: list[ExportedMail] = described([])
    ledger: list[ExportedLedgerRow] = described([])
    evidence: list[ExportedLeaf] = described([])
    fabman_events: list[ExportedFabmanEvent] = described([])
    staff_log: list[ExportedStaffAction] = described([])


class Privacy:
    """Retention purges, erasure and export of one bridge's store; owns the checkpoint and purge jobs."""

    def __init__(self, deps: Deps, evidence: Evidence) -> None:
        self.deps = deps
        self.evidence = evidence

    def jobs(self) -> dict[str, Job]:
        """The daily checkpoint and purge, for the bridge's job table."""
        checkpoint_at = self.deps.settings.checkpoint_at or dt.time(2, 45)
        return {
            "checkpoint": Job("checkpoint", DailyAt(checkpoint_at), self.evidence.checkpoint, lease_seconds=120.0),
            "purge": Job("purge", DailyAt(PURGE_AT), self.purge, lease_seconds=300.0),
        }

    def scheduled(self, name: str) -> bool:
        """CHECKPOINT_AT=off turns the checkpoint off; the purge runs while either retention is on."""
        settings = self.deps.settings
        if name == "checkpoint":
            return settings.checkpoint_at is not None
        return settings.payload_retention_days is not None or settings.mail_retention_days is not None

    def purge(self) -> PurgeSummary:
        """Remove the raw bodies and mail bodies older than their retention; the counts."""
        settings, now = self.deps.settings, self.deps.now()
        payload_days, mail_days = settings.payload_retention_days, settings.mail_retention_days
        counts = self.deps.store.privacy.purge(
            payloads_before=None if payload_days is None else now - dt.timedelta(days=payload_days),
            mail_before=None if mail_days is None else now - dt.timedelta(days=mail_days),
        )
        log.info(
            "privacy purge: %(payloads_purged)d result bodies, %(fabman_payloads_purged)d Fabman event bodies, "
            "%(mail_bodies_purged)d mail bodies",
            counts,
        )
        return PurgeSummary(
            payloads_purged=counts["payloads_purged"],
            fabman_payloads_purged=counts["fabman_payloads_purged"],
            mail_bodies_purged=counts["mail_bodies_purged"],
            payload_retention_days=payload_days,
            mail_retention_days=mail_days,
        )

    def erase(self, member_id: int, *, by: str) -> Erasure:
        """Erase a member Fabman no longer has; Conflict while Fabman still answers for them."""
        return erase_member(self.deps, member_id, by=by)

    def export(self, member_id: int) -> MemberExport:
        """Everything the bridge holds about a member, as one JSON document."""
        data = self.deps.store.privacy.member_data(member_id)
        erased = self.deps.store.privacy.erased_member(member_id)
        return MemberExport(
            member_id=member_id,
            exported_at=utc_text(self.deps.now()),
            erased=None
            if erased is None
            else ErasedMark(at=utc_text(erased.erased_at), by=erased.erased_by, counts=erased.counts),
            subject_salt_kept=bool(data["salt"]),
            results=[_result(row) for row in data["results"]],
            mail=[_mail(row) for row in data["mail"]],
            ledger=[_ledger(row) for row in data["ledger"]],
            evidence=[
                ExportedLeaf(
                    index=leaf.index, event=leaf.event, leaf=json.loads(leaf.leaf), leaf_b64=base64.b64encode(leaf.leaf).decode()
                )
                for leaf in data["evidence"]
            ],
            fabman_events=[
                ExportedFabmanEvent(
                    id=row.id, type=row.type, status=row.status, received_at=utc_text(row.received_at), payload=_json(row.payload)
                )
                for row in data["fabman_events"]
            ],
            staff_log=[
                ExportedStaffAction(at=utc_text(row.at), staff=row.staff, action=row.action, target=row.target, detail=row.detail)
                for row in data["staff_log"]
            ],
        )


def erase_member(deps: Deps, member_id: int, *, by: str) -> Erasure:
    """Erase a member once `GET /members/{id}` answers 404; Conflict while Fabman still has them."""
    try:
        deps.fabman.get_member(member_id, trainings=False, privileges=False)
    except FabmanNotFound:
        pass
    else:
        raise Conflict(f"member {member_id} still exists in Fabman; only a member deleted there is erased")
    now = deps.now()
    leaf = LeafFields(event=EvidenceEvent.ERASED, member_id=member_id, course_id=None, recorded_at=utc_text(now))
    counts = deps.store.privacy.erase(member_id, by=by, leaf=leaf)
    log.info("member %s erased (%s)", member_id, by)
    return Erasure(member_id=member_id, erased_at=utc_text(now), by=by, removed=counts)


def erase_on_event(deps: Deps, row: Any) -> FabmanOutcome:
    """Fabman's `member_deleted`: erase the member if Fabman confirms it; the event's outcome."""
    try:
        erase_member(deps, int(row.member_id), by=f"fabman event {row.event_key}")
    except Conflict:
        log.warning(
            "Fabman event %s says member %s was deleted, but Fabman still has them: nothing erased", row.event_key, row.member_id
        )
        return FabmanOutcome.MEMBER_STILL_EXISTS
    return FabmanOutcome.ERASED


def _json(text: str) -> Any:
    """A stored body as JSON (or as the text it is; None once purged)."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _result(row: Any) -> ExportedResult:
    return ExportedResult(
        id=row.id,
        result_key=row.result_key,
        status=row.status,
        outcome=row.outcome,
        course_id=row.course_id,
        passed=row.passed,
        test_name=row.test_name,
        received_at=utc_text(row.received_at),
        source=row.source,
        payload=_json(row.payload),
        payload_purged_at=utc_text(row.payload_purged_at),
        payload_sha256=row.payload_sha256,
    )


def _mail(row: Any) -> ExportedMail:
    return ExportedMail(
        id=row.id,
        channel=row.channel,
        recipient=row.recipient,
        subject=row.subject,
        status=row.status,
        created_at=utc_text(row.created_at),
        sent_at=utc_text(row.sent_at),
        body_text=row.body_text or None,
        body_purged_at=utc_text(row.body_purged_at),
    )


def _ledger(row: Any) -> ExportedLedgerRow:
    return ExportedLedgerRow(
        result_id=row.result_id,
        course_id=row.course_id,
        course_title=row.course_title,
        fabman_record_id=row.fabman_record_id,
        quiz_name=row.quiz_name,
        percentage=row.percentage,
        percentage_passmark=row.percentage_passmark,
        time_started=utc_text(row.time_started),
        time_finished=utc_text(row.time_finished),
        training_date=row.training_date,
        until_date=row.until_date,
        granted_at=utc_text(row.granted_at),
    )
