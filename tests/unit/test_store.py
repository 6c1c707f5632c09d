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

from bridge.adapters.store import MIGRATIONS, Store, normalise_url, utcnow
from bridge.adapters.store.models import LedgerEntry
from tests.support import ROOT

TABLES = {"inbox_events", "outbox_messages", "training_ledger", "alembic_version"}


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store(database_url)
    store.migrate()
    yield store
    store.dispose()


def event(key: str = "r1", **values: object) -> dict[str, object]:
    return {"result_key": key, "status": "queued", "payload": "{}", "attempts": 0, **values}


def newest_revision() -> str | None:
    """The head of the migration scripts shipped with the bridge."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def head_revision(store: Store) -> str | None:
    with store.engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def test_migrations_build_an_empty_database_and_are_idempotent(database_url: str) -> None:
    store = Store(database_url)
    try:
        assert not TABLES & set(inspect(store.engine).get_table_names())

        store.migrate()
        store.migrate()

        assert set(inspect(store.engine).get_table_names()) >= TABLES
        assert head_revision(store) == newest_revision()
        with store.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        store.dispose()


def test_several_processes_migrating_at_once_all_succeed(database_url: str) -> None:
    script = "import sys; from bridge.adapters.store import Store; s = Store(sys.argv[1]); s.migrate(); s.dispose()"
    processes = [
        subprocess.Popen([sys.executable, "-c", script, database_url], cwd=ROOT, stderr=subprocess.PIPE) for _ in range(3)
    ]
    errors = [p.communicate(timeout=60)[1].decode() for p in processes]

    assert [p.returncode for p in processes] == [0, 0, 0], errors
    store = Store(database_url)
    try:
        assert head_revision(store) == newest_revision()
        assert set(inspect(store.engine).get_table_names()) >= TABLES
    finally:
        store.dispose()


def test_a_store_made_by_the_first_release_is_upgraded_in_place(database_url: str) -> None:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    store = Store(database_url)
    try:
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
            connection.execute(
                text("INSERT INTO inbox_events (result_key, status, payload, attempts) VALUES ('r0', 'dead', '{}', 3)")
            )

        store.migrate()

        assert head_revision(store) == newest_revision()
        with store.session() as session:
            [row] = session.execute(text("SELECT result_key, status, retry_from FROM inbox_events")).all()
        assert tuple(row) == ("r0", "dead", None)
    finally:
        store.dispose()


def test_a_result_is_recorded_once(store: Store) -> None:
    first, created = store.record_event(event("r1"))
    again, created_again = store.record_event(event("r1", status="other"))

    assert (created, created_again) == (True, False)
    assert again.id == first.id and again.status == "queued"
    assert first.received_at.tzinfo is not None
    assert len(store.events()) == 1


def test_a_claimed_event_is_not_claimed_again_until_its_lease_ends(store: Store) -> None:
    stored, _ = store.record_event(event())

    claimed = store.claim_event(stored.id, 60)

    assert claimed is not None and claimed.attempts == 1
    assert store.claim_event(stored.id, 60) is None
    assert store.due_event_ids() == []
    assert store.requeue_event(stored.id, statuses=("queued",)) is False
    store.update_event(stored.id, lease_until=utcnow() - dt.timedelta(seconds=1))
    assert store.due_event_ids() == [stored.id]
    reclaimed = store.claim_event(stored.id, 60)
    assert reclaimed is not None and reclaimed.attempts == 2


def test_only_due_queued_events_are_listed(store: Store) -> None:
    due, _ = store.record_event(event("due"))
    later, _ = store.record_event(event("later", next_attempt_at=utcnow() + dt.timedelta(minutes=5)))
    store.record_event(event("done", status="applied"))

    assert store.due_event_ids() == [due.id]
    assert store.claim_event(later.id, 60, statuses=("dead",)) is None


def test_requeue_puts_a_finished_event_back(store: Store) -> None:
    stored, _ = store.record_event(event(status="dead", next_attempt_at=utcnow() + dt.timedelta(hours=1)))

    assert store.requeue_event(stored.id, statuses=("applied",)) is False
    assert store.requeue_event(stored.id, statuses=("dead",)) is True

    requeued = store.get_event(stored.id)
    assert requeued is not None and (requeued.status, requeued.next_attempt_at) == ("queued", None)
    assert store.due_event_ids() == [stored.id]


def test_outbox_messages_are_queued_once_and_claimed_by_one_sender(store: Store) -> None:
    message = {"dedupe_key": "event:1:granted", "channel": "mail", "recipient": "a@b.c", "subject": "S", "body_text": "T"}
    with store.session() as session:
        assert store.enqueue(session, message) is True
        assert store.enqueue(session, {**message, "subject": "other"}) is False

    [claimed] = store.claim_messages(60)
    assert (claimed.subject, claimed.attempts, claimed.status) == ("S", 1, "pending")
    assert store.claim_messages(60) == []

    store.finish_message(claimed.id, status="sent", sent_at=utcnow())
    [sent] = store.messages(status="sent")
    assert sent.sent_at is not None and sent.lease_until is None


def test_the_ledger_keeps_one_row_per_result(store: Store) -> None:
    row = {"result_id": "r1", "member_id": 1, "course_id": 2, "evidence": {"percentage": 90.0}, "granted_at": utcnow()}
    with store.session() as session:
        assert store.insert_ignore(session, LedgerEntry, row) is True
        assert store.insert_ignore(session, LedgerEntry, {**row, "course_id": 3}) is False

    [entry] = store.ledger(member_id=1)
    assert (entry.course_id, entry.evidence) == (2, {"percentage": 90.0})
    assert store.ledger(member_id=2) == []


def test_store_reports_counts_and_answers_ping(store: Store) -> None:
    store.record_event(event("a"))
    store.record_event(event("b", status="dead"))

    store.ping()
    assert store.count_events() == {"queued": 1, "dead": 1}
    assert [e.result_key for e in store.events(status="dead")] == ["b"]


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
