"""The store's side of the training rules (migration 0006): events once, one offer per window, reminders with their mail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bridge.adapters.store import Store
from bridge.adapters.store.models import Base
from bridge.adapters.store.rules import ReminderMail
from bridge.clock import SettableClock
from bridge.domain.messages import OutgoingMessage
from bridge.domain.statuses import Channel

RULES_TABLES = {"fabman_events", "machine_offers", "reminded_trainings"}
WEEK = dt.timedelta(days=7)


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))


@pytest.fixture
def store(database_url: str, clock: SettableClock) -> Iterator[Store]:
    store = Store(database_url, clock=clock)
    store.migrate()
    yield store
    store.dispose()


def mail(key: str) -> list[OutgoingMessage]:
    return [OutgoingMessage(key, Channel.MAIL, "petra@example.org", "S", "text", None, member_id=1)]


def test_migration_0006_builds_the_tables_the_models_describe(store: Store) -> None:
    with store.database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    about_rules = [d for d in differences if any(table in repr(d) for table in RULES_TABLES)]
    assert about_rules == []


def test_an_event_is_stored_once_however_often_and_however_concurrently_it_arrives(store: Store) -> None:
    def receive(_: int) -> bool:
        _, created = store.rules.receive_fabman_event(
            event_key="77", event_type="test", status="ignored", payload="{}", outcome="test"
        )
        return created

    with ThreadPoolExecutor(max_workers=4) as pool:
        created = list(pool.map(receive, range(8)))
    assert created.count(True) == 1
    row = store.rules.fabman_event("77")
    assert row is not None and (row.type, row.status, row.outcome) == ("test", "ignored", "test")


def test_one_offer_per_member_and_machine_in_the_window(store: Store, clock: SettableClock) -> None:
    assert store.rules.offer_machine_mail(1, 1, mail("m1"), window=WEEK, event_id=1)
    assert not store.rules.offer_machine_mail(1, 1, mail("m2"), window=WEEK, event_id=2)
    assert store.rules.offer_machine_mail(1, 2, mail("m3"), window=WEEK, event_id=3)
    clock.advance(days=7)
    with ThreadPoolExecutor(max_workers=4) as pool:
        won = list(
            pool.map(lambda n: store.rules.offer_machine_mail(1, 1, mail(f"m{10 + n}"), window=WEEK, event_id=10 + n), range(6))
        )
    assert won.count(True) == 1
    assert sorted(m.dedupe_key for m in store.outbox.messages()) == sorted(["m1", "m3", f"m{10 + won.index(True)}"])


def test_records_are_marked_reminded_only_with_the_mail_that_lists_them(store: Store) -> None:
    until = dt.date(2026, 3, 9)
    first = ReminderMail(mail("reminders:1:2026-03-02"), [(1, 10, until), (1, 11, until)])
    assert store.rules.queue_reminders([first]) == 1
    assert store.rules.reminded([(1, 10, until), (1, 11, until), (1, 12, until), (1, 10, until + dt.timedelta(days=1))]) == {
        (1, 10, until),
        (1, 11, until),
    }

    # The day's mail is queued already: a record found later that day waits for tomorrow's mail.
    later = ReminderMail(mail("reminders:1:2026-03-02"), [(1, 12, until)])
    assert store.rules.queue_reminders([later]) == 0
    assert store.rules.reminded([(1, 12, until)]) == set()
    # A member without an address gets no mail, and nothing is marked.
    assert store.rules.queue_reminders([ReminderMail([], [(2, 20, until)])]) == 0
    assert store.rules.reminded([(2, 20, until)]) == set()
