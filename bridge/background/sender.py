"""The outbox sender: the one component that sends what use cases queued (mail, alerts, sign-in links).

Use cases never send. They commit their messages to the outbox in the
transaction that records what happened, then wake this process's sender
(`wake`), the way the webhook wakes the appliers. Awake, the sender's one
thread makes a pass over what is due: it claims the oldest due messages
BATCH at a time under a lease of LEASE_SECONDS (so no other process's sender
takes them meanwhile), sends each, and goes on while claims come back full,
up to MOST_PER_PASS messages; then it sleeps until the next wake.

A staff sign-in request is handed over by id (`hurry`) and sent before
anything else waiting, between two messages of a pass at the latest, so a
sign-in link never waits behind a long pass; the request's answer never
waits for it at all (docs/security.md).

The retry job asks for a pass and waits for it (`send_due`): that is how
mail whose send failed is sent once its backoff has passed, and how mail a
stopped process left is sent by another. docs/mail.md says when a queued
message is sent, in full.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from bridge.adapters.mail import FlushReport, Outbox
from bridge.adapters.store.models import OutboxMessage
from bridge.domain.statuses import MessageStatus

log = logging.getLogger(__name__)

BATCH = 10
"""Messages claimed at once. At the defaults (MAIL_TIMEOUT 10 s, LEASE_SECONDS 120 s) a batch in which every
send waits out its timeout still ends inside its lease."""
MOST_PER_PASS = 1000
"""A pass stops after handling this many messages (the next wake or retry run goes on)."""
MAX_HURRIED = 64
"""Most sign-in requests one process holds to send first; past it they are sent by the next pass over what is due."""


class _Waiter:
    """A caller of `send_due`, waiting for the next pass to end."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.report = FlushReport()

    def finish(self, report: FlushReport) -> None:
        self.report = report
        self.done.set()


class OutboxSender:
    """One thread per process that sends due outbox messages, woken when some are queued; see the module."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._hurried: deque[int] = deque()
        self._want_pass = False
        self._waiters: list[_Waiter] = []
        self._working = False
        self._thread: threading.Thread | None = None
        self._closing = False
        self._closed = False
        self._stop_at: float | None = None

    # -- what use cases, the staff sign-in and the retry job call --------------------

    def wake(self) -> None:
        """Messages were just committed to the outbox: send what is due soon (returns at once)."""
        with self._lock:
            if self._closing:
                return
            self._want_pass = True
            self._start()
            self._changed.notify_all()

    def hurry(self, message_id: int) -> bool:
        """Send this just-queued message before anything else waiting (returns at once); False when stopping."""
        with self._lock:
            if self._closing:
                return False
            if len(self._hurried) < MAX_HURRIED:
                self._hurried.append(message_id)
            else:
                self._want_pass = True
            self._start()
            self._changed.notify_all()
            return True

    def send_due(self, timeout: float | None = None) -> FlushReport:
        """Make a pass over everything due now and wait for it; what it did (nothing when the sender is stopping)."""
        waiter = _Waiter()
        with self._lock:
            if self._closing:
                return FlushReport()
            self._waiters.append(waiter)
            self._want_pass = True
            self._start()
            self._changed.notify_all()
        waiter.done.wait(timeout)
        return waiter.report

    def busy(self) -> int:
        """Work this process's sender holds: sign-in requests to send first, a pass asked for, a send in hand."""
        with self._lock:
            return len(self._hurried) + int(self._want_pass) + int(self._working)

    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until the sender holds nothing (every wake's pass done); False after `timeout` s."""
        with self._lock:
            return self._changed.wait_for(self._idle, timeout=timeout)

    def shutdown(self, timeout: float) -> None:
        """Take no more work; send what is due and in hand for up to `timeout` s; then stop after the current message.

        What is left stays pending in the store (a message claimed but not
        sent is free again when its lease ends) for the retry job of any
        worker that is still running, or of the next one to start.
        """
        with self._lock:
            self._closing = True
            self._stop_at = time.monotonic() + timeout
            if timeout > 0:
                self._want_pass = True  # one last pass, within the time left
                self._start()
            self._changed.notify_all()
            finished = self._changed.wait_for(self._idle, timeout=timeout)
            self._closed = True
            left = len(self._hurried) + int(self._working)
            self._changed.notify_all()
        if not finished:
            log.warning("shutdown: the outbox sender still held %d message(s); the retry job sends what is left", left)

    # -- the sender's thread ------------------------------------------------------------

    def _idle(self) -> bool:
        return not (self._working or self._hurried or self._waiters) and (self._closed or not self._want_pass)

    def _stopped(self) -> bool:
        return self._closed or (self._stop_at is not None and time.monotonic() >= self._stop_at)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="outbox-sender", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                self._working = False
                self._changed.notify_all()
                while not (self._stopped() or self._hurried or self._want_pass):
                    self._changed.wait()
                if self._stopped():
                    self._hurried.clear()
                    self._want_pass = False
                    waiters, self._waiters = self._waiters, []
                    self._changed.notify_all()
                    break
                self._working = True
                hurried = bool(self._hurried)
                if not hurried:
                    self._want_pass = False
                    waiters, self._waiters = self._waiters, []
            if hurried:
                self._send_hurried()
            else:
                self._pass(waiters)
        for waiter in waiters:
            waiter.finish(FlushReport())

    def _pass(self, waiters: list[_Waiter]) -> None:
        """Send what is due, BATCH at a time, while claims come back full and some sends succeed."""
        report = FlushReport()
        handled = 0
        try:
            while handled < MOST_PER_PASS:
                wanted = min(BATCH, MOST_PER_PASS - handled)
                batch = self._outbox.claim(wanted)
                progressed = False
                for message in batch:
                    self._send_hurried()  # a sign-in link never waits for the rest of a batch
                    if self._stopped():
                        return
                    status = self._send(message)
                    if status is not None:
                        report = report.plus(status)
                        handled += 1
                        progressed = progressed or status != MessageStatus.PENDING
                if len(batch) < wanted or not progressed:
                    break  # nothing more due, or every send failed (the retry job tries again after the backoff)
        except Exception:
            log.exception("the outbox sender's pass stopped; the retry job sends what is left")
        finally:
            for waiter in waiters:
                waiter.finish(report)

    def _send_hurried(self) -> None:
        while True:
            with self._lock:
                if not self._hurried or self._stopped():
                    return
                ids = [self._hurried.popleft() for _ in range(min(BATCH, len(self._hurried)))]
            try:
                for message in self._outbox.claim(len(ids), ids=ids):
                    self._send(message)
            except Exception:
                log.exception("sending %d sign-in request(s) failed outside the outbox; the retry job sends them", len(ids))

    def _send(self, message: OutboxMessage) -> MessageStatus | None:
        """Send one claimed message, unless its lease has ended (another sender may hold it now)."""
        if message.lease_until is not None and self._outbox.store.now() >= message.lease_until:
            log.info("outbox message %s not sent by this pass: its lease ended before its turn", message.id)
            return None
        return self._outbox.send(message)
