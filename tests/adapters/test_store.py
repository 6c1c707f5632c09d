"""The bridge's store: migrations (also from several processes at once), unique inbox, leases, outbox dedupe."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from bridge.adapters.store import MIGRATIONS, Grant, InboxEvent, Store, normalise_url
from bridge.clock import SettableClock
from bridge.domain.messages import OutgoingMessage
from bridge.domain.statuses import Channel, EventStatus, MessageStatus
from harness.launch import ROOT

pytestmark = pytest.mark.e2e

TABLES = {"inbox_events", "outbox_messages", "training_ledger", "alembic_version"}


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC))


@pytest.fixture
def store(database_url: str, clock: SettableClock) -> Iterator[Store]:
    store = Store(database_url, clock=clock)
    store.migrate()
    yield store
    store.dispose()


def receive(store: Store, key: str = "r1", status: EventStatus = EventStatus.QUEUED) -> InboxEvent:
    event, _ = store.inbox.receive(result_key=key, status=status, passed=True, test_name="Laser", payload="{}")
    return event


def grant(result_id: str = "r1", member_id: int = 1, course_id: int = 2, **fields: object) -> Grant:
    """A passed quiz's ledger row, with only what a test looks at filled in."""
    unset = dict.fromkeys(
        ("course_title", "quiz_name", "quiz_id", "link_id", "percentage", "points_scored", "points_available",
         "percentage_passmark", "time_started", "time_finished", "training_date", "until_date"),
    )  # fmt: skip
    values = {**unset, "fabman_record_id": 100, "evidence": {}, **fields}
    return Grant(result_id=result_id, member_id=member_id, course_id=course_id, **values)  # type: ignore[arg-type]


def mail(key: str, subject: str = "S") -> OutgoingMessage:
    return OutgoingMessage(key, Channel.MAIL, "petra@example.org", subject, "text", "<p>html</p>", member_id=1, event_id=1)


def newest_revision() -> str | None:
    """The head of the migration scripts shipped with the bridge."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def head_revision(store: Store) -> str | None:
    with store.database.engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def test_migrations_build_an_empty_database_and_are_idempotent(bare_database_url: str) -> None:
    store = Store(bare_database_url)
    try:
        assert not TABLES & set(inspect(store.database.engine).get_table_names())

        store.migrate()
        store.migrate()

        assert set(inspect(store.database.engine).get_table_names()) >= TABLES
        assert head_revision(store) == newest_revision()
        with store.database.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        store.dispose()


def test_several_processes_migrating_at_once_all_succeed(bare_database_url: str) -> None:
    script = "import sys; from bridge.adapters.store import Store; s = Store(sys.argv[1]); s.migrate(); s.dispose()"
    processes = [
        subprocess.Popen([sys.executable, "-c", script, bare_database_url], cwd=ROOT, stderr=subprocess.PIPE) for _ in range(3)
    ]
    errors = [p.communicate(timeout=60)[1].decode() for p in processes]

    assert [p.returncode for p in processes] == [0, 0, 0], errors
    store = Store(bare_database_url)
    try:
        assert head_revision(store) == newest_revision()
        assert set(inspect(store.database.engine).get_table_names()) >= TABLES
    finally:
        store.dispose()


def test_a_store_made_by_the_first_release_is_upgraded_in_place(bare_database_url: str) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    store = Store(bare_database_url)
    try:
        with store.database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
            connection.execute(
                text("INSERT INTO inbox_events (result_key, status, payload, attempts) VALUES ('r0', 'dead', '{}', 3)")
            )

        store.migrate()

        assert head_revision(store) == newest_revision()
        [row] = store.inbox.events()
        assert (row.result_key, row.status, row.retry_from) == ("r0", "dead", None)
    finally:
        store.dispose()


def test_a_result_is_recorded_once(store: Store, clock: SettableClock) -> None:
    first, created = store.inbox.receive(result_key="r1", status=EventStatus.QUEUED, passed=True, test_name="A", payload="{}")
    again, created_again = store.inbox.receive(
        result_key="r1", status=EventStatus.DEAD, passed=False, test_name="B", payload="{}"
    )

    assert (created, created_again) == (True, False)
    assert again.id == first.id and again.status == "queued" and again.test_name == "A"
    assert first.received_at == clock.now()
    assert len(store.inbox.events()) == 1


def test_a_claimed_event_is_not_claimed_again_until_its_lease_ends(store: Store, clock: SettableClock) -> None:
    stored = receive(store)

    claimed = store.inbox.claim(stored.id, 60)

    assert claimed is not None and claimed.attempts == 1
    assert store.inbox.claim(stored.id, 60) is None
    assert store.inbox.due_ids() == []
    assert store.inbox.requeue(stored.id, statuses=(EventStatus.QUEUED,)) is False
    clock.advance(seconds=61)
    assert store.inbox.due_ids() == [stored.id]
    reclaimed = store.inbox.claim(stored.id, 60)
    assert reclaimed is not None and reclaimed.attempts == 2


def test_a_deferred_event_is_due_again_at_its_retry_time(store: Store, clock: SettableClock) -> None:
    stored = receive(store)
    store.inbox.claim(stored.id, 60)

    store.inbox.defer(stored.id, "Fabman answered 503", clock.now() + dt.timedelta(minutes=5))

    assert store.inbox.due_ids() == []
    deferred = store.inbox.get(stored.id)
    assert deferred is not None and (deferred.status, deferred.lease_until, deferred.last_error) == (
        "queued",
        None,
        "Fabman answered 503",
    )
    clock.advance(minutes=5)
    assert store.inbox.due_ids() == [stored.id]


def test_applying_records_the_ledger_row_the_mail_and_the_status_together(store: Store) -> None:
    stored = receive(store)
    store.inbox.claim(stored.id, 60)
    store.inbox.mark_applied(
        stored.id, "granted", grant=grant(evidence={"percentage": 90.0}, until_date=dt.date(2027, 1, 31)),
        messages=[mail("event:1:granted")],
    )  # fmt: skip

    applied = store.inbox.get(stored.id)
    assert applied is not None and (applied.status, applied.outcome, applied.lease_until) == ("applied", "granted", None)
    [entry] = store.ledger.entries(member_id=1)
    assert (entry.course_id, entry.evidence, entry.until_date) == (2, {"percentage": 90.0}, "2027-01-31")
    assert [m.dedupe_key for m in store.outbox.messages()] == ["event:1:granted"]
    assert store.inbox.due_ids() == []


def test_a_failing_transition_leaves_nothing_half_written(store: Store) -> None:
    stored = receive(store)
    store.inbox.claim(stored.id, 60)
    broken = OutgoingMessage("event:1:granted", Channel.MAIL, "petra@example.org", None, "text")  # type: ignore[arg-type]

    with pytest.raises(IntegrityError):
        store.inbox.mark_applied(stored.id, "granted", grant=grant(), messages=[broken])

    assert store.ledger.entries() == [] and store.outbox.messages() == []
    still = store.inbox.get(stored.id)
    assert still is not None and still.status == "queued"


def test_closing_an_event_queues_its_alerts_and_only_takes_closing_statuses(store: Store) -> None:
    stored = receive(store)

    store.inbox.close(stored.id, EventStatus.REJECTED, "x" * 900, outcome="rejected", messages=[mail("event:1:rejected:mail")])

    closed = store.inbox.get(stored.id)
    assert closed is not None and (closed.status, closed.outcome, len(closed.last_error or "")) == ("rejected", "rejected", 500)
    assert [m.dedupe_key for m in store.outbox.messages()] == ["event:1:rejected:mail"]
    with pytest.raises(ValueError, match="not closed as applied"):
        store.inbox.close(stored.id, EventStatus.APPLIED, "no")


def test_requeue_puts_a_finished_event_back_and_restarts_its_retry_age(store: Store, clock: SettableClock) -> None:
    stored = receive(store, status=EventStatus.DEAD)
    clock.advance(hours=3)

    assert store.inbox.requeue(stored.id, statuses=(EventStatus.APPLIED,)) is False
    assert store.inbox.requeue(stored.id) is True

    requeued = store.inbox.get(stored.id)
    assert requeued is not None and (requeued.status, requeued.next_attempt_at) == ("queued", None)
    assert requeued.retrying_since == clock.now()
    assert store.inbox.due_ids() == [stored.id]


def test_outbox_messages_are_queued_once_and_claimed_by_one_sender(store: Store, clock: SettableClock) -> None:
    assert store.outbox.queue([mail("event:1:granted")]) == 1
    assert store.outbox.queue([mail("event:1:granted", subject="other"), mail("event:1:other")]) == 1
    assert store.outbox.queued_keys(["event:1:granted", "nope"]) == {"event:1:granted"}

    first, second = store.outbox.claim(60)
    assert (first.subject, first.attempts, first.status) == ("S", 1, "pending")
    assert store.outbox.claim(60) == []

    store.outbox.mark_sent(first.id)
    store.outbox.postpone(second.id, "SMTPServerDisconnected", clock.now() + dt.timedelta(minutes=1))
    [sent] = store.outbox.messages(status=MessageStatus.SENT)
    assert sent.sent_at == clock.now() and sent.lease_until is None
    assert store.outbox.claim(60) == []
    clock.advance(minutes=1)
    [again] = store.outbox.claim(60)
    assert (again.id, again.attempts) == (second.id, 2)
    store.outbox.mark_dead(again.id, "too old")
    assert store.outbox.counts() == {"sent": 1, "dead": 1}


def test_the_ledger_keeps_one_row_per_result(store: Store) -> None:
    for event_key, course in (("a", 2), ("b", 3)):
        stored = receive(store, event_key)
        store.inbox.mark_applied(stored.id, "granted", grant=grant(course_id=course))

    [entry] = store.ledger.entries(member_id=1)
    assert entry.course_id == 2
    assert store.ledger.entries(member_id=2) == []


def test_store_reports_counts_and_answers_ping(store: Store) -> None:
    receive(store, "a")
    receive(store, "b", status=EventStatus.DEAD)

    store.ping()
    assert store.inbox.counts() == {"queued": 1, "dead": 1}
    assert [e.result_key for e in store.inbox.events(status=EventStatus.DEAD)] == ["b"]
    assert store.database.table_counts() == {"inbox_events": 2, "outbox_messages": 0, "training_ledger": 0}


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_urls_hosts_hand_out_are_accepted(url: str, normalised: str) -> None:
    assert normalise_url(url) == normalised
