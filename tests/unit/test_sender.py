"""The outbox sender, on a real SQLite store with a settable clock and recording transports.

Woken, it sends what is due on its own thread; a hurried message (a sign-in
request) goes before the rest of a pass; a pass asked for by the retry job
reports what it did; a batch whose every send fails ends the pass; a message
whose lease ended before its turn is left alone; once shut down it takes no
more work.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bridge.adapters.mail import FlushReport, Outbox, Transport
from bridge.adapters.store import Store
from bridge.adapters.store.models import OutboxMessage
from bridge.background import OutboxSender
from bridge.background.sender import BATCH
from bridge.clock import SettableClock
from bridge.domain.messages import OutgoingMessage
from bridge.domain.statuses import Channel, MessageStatus


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))


@pytest.fixture
def store(tmp_path: Path, clock: SettableClock) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'bridge.sqlite3'}", clock=clock)
    store.migrate()
    yield store
    store.dispose()


class Recording:
    """A transport that records the subjects it was given; `before` runs first on each send (to fail, wait or travel)."""

    def __init__(self, before: Callable[[OutboxMessage], None] | None = None) -> None:
        self.subjects: list[str] = []
        self.before = before
        self.lock = threading.Lock()

    def send(self, message: OutboxMessage) -> None:
        if self.before is not None:
            self.before(message)
        with self.lock:
            self.subjects.append(message.subject)


def queue(store: Store, *subjects: str, channel: Channel = Channel.MAIL) -> list[int]:
    store.outbox.queue(OutgoingMessage(f"test:{s}", channel, "someone@example.org", s, "text") for s in subjects)
    return [m.id for m in store.outbox.messages() if m.subject in subjects]


def make_sender(store: Store, mail: Recording, **options: float) -> OutboxSender:
    """A sender over an outbox whose mail and sign-in channels both lead to `mail`, retrying at once."""
    transports: dict[Channel, Transport] = {Channel.MAIL: mail, Channel.STAFF_SIGN_IN: mail}
    return OutboxSender(Outbox(store, transports, retry_base_seconds=0, **options))


def statuses(store: Store) -> dict[str, str]:
    return {m.subject: m.status for m in store.outbox.messages()}


def test_woken_it_sends_everything_due_once_on_its_own_thread(store: Store) -> None:
    mail = Recording()
    sender = make_sender(store, mail)
    subjects = [f"mail {n:02}" for n in range(3 * BATCH + 4)]
    queue(store, *subjects)

    sender.wake()

    assert sender.wait_idle(10)
    assert mail.subjects == subjects  # oldest first, each once
    assert set(statuses(store).values()) == {MessageStatus.SENT}
    sender.shutdown(0)


def test_a_hurried_message_goes_before_the_rest_of_a_pass(store: Store) -> None:
    gate = threading.Event()
    first_started = threading.Event()

    def hold_the_first(message: OutboxMessage) -> None:
        if message.subject == "mail 00":
            first_started.set()
            assert gate.wait(10)

    mail = Recording(hold_the_first)
    sender = make_sender(store, mail)
    queue(store, *[f"mail {n:02}" for n in range(BATCH)])
    sender.wake()
    assert first_started.wait(10)
    [sign_in] = queue(store, "sign-in", channel=Channel.STAFF_SIGN_IN)

    assert sender.hurry(sign_in)
    gate.set()

    assert sender.wait_idle(10)
    assert mail.subjects[:2] == ["mail 00", "sign-in"]  # only the send in hand went first
    assert len(mail.subjects) == BATCH + 1
    sender.shutdown(0)


def test_the_retry_jobs_pass_reports_what_it_did(store: Store, clock: SettableClock) -> None:
    def refuse_some(message: OutboxMessage) -> None:
        if "refused" in message.subject:
            raise ConnectionRefusedError("SMTP is down")

    mail = Recording(refuse_some)
    sender = make_sender(store, mail, max_age_hours=1)
    queue(store, "old refused")
    clock.advance(hours=2)
    queue(store, "sent 1", "refused 1", "sent 2")

    report = sender.send_due()

    assert report == FlushReport(sent=2, failed=1, dead=1)
    assert statuses(store) == {"old refused": "dead", "sent 1": "sent", "refused 1": "pending", "sent 2": "sent"}
    assert sender.send_due() == FlushReport(failed=1)  # due again at once (RETRY_BASE_SECONDS=0 here)
    sender.shutdown(0)


def test_a_batch_whose_every_send_fails_ends_the_pass(store: Store) -> None:
    def refuse(message: OutboxMessage) -> None:
        raise ConnectionRefusedError("SMTP is down")

    sender = make_sender(store, Recording(refuse))
    queue(store, *[f"mail {n:02}" for n in range(3 * BATCH)])

    report = sender.send_due()

    assert report == FlushReport(failed=BATCH)  # due again at once, yet tried only once by this pass
    assert sum(m.attempts for m in store.outbox.messages()) == BATCH
    sender.shutdown(0)


def test_a_message_whose_lease_ended_before_its_turn_is_left_for_the_next_claim(store: Store, clock: SettableClock) -> None:
    def slow_first(message: OutboxMessage) -> None:
        if message.subject == "mail 0":
            clock.advance(seconds=61)  # the first send outlasted the whole batch's lease

    mail = Recording(slow_first)
    sender = make_sender(store, mail, lease_seconds=60)
    queue(store, "mail 0", "mail 1", "mail 2")

    assert sender.send_due() == FlushReport(sent=1)
    assert statuses(store) == {"mail 0": "sent", "mail 1": "pending", "mail 2": "pending"}

    assert sender.send_due() == FlushReport(sent=2)  # claimed again, now that their lease has ended
    assert mail.subjects == ["mail 0", "mail 1", "mail 2"]
    sender.shutdown(0)


def test_shutdown_sends_what_is_due_then_takes_no_more_work(store: Store) -> None:
    mail = Recording()
    sender = make_sender(store, mail)
    queue(store, "before")

    sender.shutdown(10)

    assert mail.subjects == ["before"]
    [late] = queue(store, "after")
    sender.wake()
    assert sender.hurry(late) is False
    assert sender.send_due() == FlushReport()
    assert sender.wait_idle(1)
    assert mail.subjects == ["before"] and statuses(store)["after"] == "pending"  # for the retry job of another worker
