"""Each worker process's appliers: at most FABMAN_CONCURRENCY threads draining the inbox, woken the moment there is work.

The inbox is the queue. A result the webhook stores while an applier is free
is stored already claimed and handed straight to one (`reserve` + `submit`:
no second round trip); any other is stored queued and the appliers are
woken (`wake`). Awake, an applier claims what is due from the store in one
short transaction (:meth:`~bridge.adapters.store.inbox.InboxStore.claim_due`: at most
one result per member, none of a member whose result is in flight anywhere)
and applies it; it goes on while the store has work and sleeps when it has
none. Other processes and instances are heard within a second: a poll
(`start_polling`) reads whether anything is due once a second, and on
PostgreSQL a listening connection wakes the appliers at once on NOTIFY.

A 429 closes the process's :class:`~bridge.adapters.fabman.RateGate`: the
appliers' Fabman calls wait at it, and no applier claims or accepts more
until it opens again. Every claimed event is applied, given back on
shutdown, or taken by another worker when its lease ends: nothing is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from bridge.adapters.fabman import RateGate
from bridge.adapters.store import InboxEvent

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
"""How often an idle process looks at the store for work another process left (at most once a second)."""
LISTENER_RETRY_SECONDS = 10.0
"""After the listening connection broke, how long the process only polls before it listens again."""
MAX_TRIED = 5000
"""A drain of everything due stops after trying this many events (the next poll or retry run starts another)."""
ADMISSION_WAIT_SECONDS = 1.0
"""How long the webhook's answer waits, when every applier of its process is busy, for one to free up."""


class Claim(Protocol):
    """Leases up to `limit` due events (see InboxStore.claim_due)."""

    def __call__(self, limit: int, *, fresh_only: bool, exclude: Sequence[int]) -> list[InboxEvent]: ...


class Listener(Protocol):
    """Something that blocks until the store says work arrived (InboxStore.listener)."""

    def wait(self, timeout: float) -> bool: ...

    def close(self) -> None: ...


class Applier:
    """Up to `concurrency` applier threads fed by handed-over events and by claims from the store."""

    def __init__(
        self,
        concurrency: int,
        *,
        apply: Callable[[InboxEvent], object],
        claim: Claim,
        release: Callable[[Sequence[int]], None],
        any_due: Callable[[], bool] | None = None,
        gate: RateGate | None = None,
    ) -> None:
        self.concurrency = concurrency
        self._apply = apply
        self._claim = claim
        self._release = release
        self._any_due = any_due
        self._gate = gate or RateGate()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: deque[InboxEvent] = deque()
        self._running = 0
        self._reserved = 0
        self._claiming = False
        self._want_due = False
        self._want_fresh = False
        self._after_finish = False
        self._draining = False
        self._tried: set[int] = set()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._stop_polling = threading.Event()
        self._poller: threading.Thread | None = None

    # -- what the webhook and the jobs call -------------------------------------

    def reserve(self, wait: float = 0.0) -> bool:
        """Room for one more result (an applier free, Fabman not pausing us), waiting up to `wait` s for one.

        The webhook waits here when every applier of the process is busy: under
        a burst the answers then keep pace with the appliers instead of leaving
        a backlog behind them (backpressure). It never waits while Fabman asks
        us to (the pause may be long) nor past `wait`; without room the result
        is stored queued and the appliers take it when they can.
        """
        with self._lock:
            if wait > 0:
                self._changed.wait_for(lambda: self._has_room() or self._closed or self._gate.remaining() > 0, timeout=wait)
            if not self._has_room():
                return False
            self._reserved += 1
            return True

    def _has_room(self) -> bool:
        return not self._closed and self._gate.remaining() <= 0 and self._held() < self.concurrency

    def cancel(self) -> None:
        """Give back a reservation that was not used (the result was a duplicate, ignored, not claimed...)."""
        with self._lock:
            self._reserved -= 1
            self._changed.notify_all()

    def submit(self, event: InboxEvent) -> None:
        """Apply an event this process has claimed, on the reservation made for it."""
        with self._lock:
            self._reserved -= 1
            closed = self._closed
            if not closed:
                self._queue.append(event)
                self._start_threads()
                self._changed.notify_all()
        if closed:
            self._give_back([event.id])

    def wake(self, *, due: bool = True) -> None:
        """There may be work in the store: everything due (`due`), or only results never tried (a backlog)."""
        with self._lock:
            if self._closed:
                return
            if due:
                self._want_due = self._draining = True
                self._tried.clear()
            else:
                self._want_fresh = True
            self._start_threads()
            self._changed.notify_all()

    def busy(self) -> int:
        """Events this process holds: being applied, handed over, or reserved for."""
        with self._lock:
            return self._held()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until this process holds nothing and has no work left to look for; False after `timeout` s."""
        with self._lock:
            return self._changed.wait_for(self._idle, timeout=timeout)

    # -- polling for other processes' work ------------------------------------------

    def start_polling(self, listener: Listener | None = None) -> None:
        """Look for due work once a second when idle, and at once on the listener's notifications (once)."""
        if self._poller is not None:
            return
        self._poller = threading.Thread(target=self._poll, args=(listener,), name="apply-poll", daemon=True)
        self._poller.start()

    def _poll(self, listener: Listener | None) -> None:
        listen_from = 0.0
        while not self._stop_polling.is_set():
            heard = False
            if listener is not None and time.monotonic() >= listen_from:
                try:
                    heard = listener.wait(POLL_SECONDS)
                except Exception:  # noqa: BLE001 - fall back to polling; listen again later
                    log.warning("the inbox listener broke; polling every %.0f s for a while", POLL_SECONDS)
                    listen_from = time.monotonic() + LISTENER_RETRY_SECONDS
                    self._stop_polling.wait(POLL_SECONDS)
            elif self._stop_polling.wait(POLL_SECONDS):
                break
            if self._stop_polling.is_set():
                break
            try:
                if heard or (self._any_due is not None and self._idle_locked() and self._any_due()):
                    self.wake(due=True)
            except Exception:  # noqa: BLE001 - the store may be briefly unreachable; the next poll tries again
                log.warning("could not look for due results; trying again in %.0f s", POLL_SECONDS)
        if listener is not None:
            listener.close()

    # -- shutdown ---------------------------------------------------------------------

    def shutdown(self, timeout: float) -> None:
        """Stop claiming; give back what no applier has started; let running ones finish for up to `timeout` s."""
        self._stop_polling.set()
        poller = self._poller
        if poller is not None and poller is not threading.current_thread():
            poller.join(POLL_SECONDS + 1)  # its listening connection is closed before the process goes on
        with self._lock:
            self._closed = True
            waiting = [event.id for event in self._queue]
            self._queue.clear()
            self._changed.notify_all()
        if waiting:
            self._give_back(waiting)
            log.info("shutdown: %d claimed result(s) given back to the queue", len(waiting))
        with self._lock:
            finished = self._changed.wait_for(lambda: self._running == 0 and not self._claiming, timeout=timeout)
            running = self._running
        if not finished:
            log.warning("shutdown: %d result(s) still being applied; their leases let another worker finish them", running)

    # -- the appliers -------------------------------------------------------------------

    def _held(self) -> int:
        return len(self._queue) + self._running + self._reserved

    def _idle(self) -> bool:
        quiet = not self._queue and self._running == 0 and self._reserved == 0 and not self._claiming
        return quiet and (self._closed or not (self._want_due or self._want_fresh))

    def _idle_locked(self) -> bool:
        with self._lock:
            return self._idle()

    def _start_threads(self) -> None:
        """Start the applier threads on first need (a `flask` command that applies nothing starts none)."""
        while len(self._threads) < self.concurrency:
            thread = threading.Thread(target=self._work, name=f"apply-{len(self._threads) + 1}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                task = self._next_task()
                if task is None:
                    return
            if isinstance(task, InboxEvent):
                self._run(task)
            else:
                self._claim_more(*task)

    def _next_task(self) -> InboxEvent | tuple[bool, int] | None:
        """Under the lock: an event to apply, a claim to make (due?, how many), or None when the pool closed."""
        while True:
            if self._closed and not self._queue:
                return None
            pause = self._gate.remaining()
            if pause <= 0:
                if self._queue:
                    self._running += 1
                    return self._queue.popleft()
                room = self.concurrency - self._held()
                if not self._closed and not self._claiming and room > 0 and (self._want_due or self._want_fresh):
                    due = self._want_due
                    if due:
                        self._want_due = False
                    else:
                        self._want_fresh = False
                    self._claiming = True
                    return due, room
            if pause > 0:
                self._gate.hold(self._changed)
            else:
                self._changed.wait()

    def _claim_more(self, due: bool, room: int) -> None:
        events: list[InboxEvent] = []
        try:
            with self._lock:
                exclude = sorted(self._tried) if due else []
            events = self._claim(room, fresh_only=not due, exclude=exclude)
        except Exception:
            log.exception("claiming due results failed")
        with self._lock:
            self._claiming = False
            closed = self._closed
            if not closed:
                more = len(events) >= room  # perhaps more where these came from
                if due:
                    self._want_due = self._draining = more and len(self._tried) < MAX_TRIED
                elif more:
                    self._want_fresh = True
                if events or self._running:
                    self._after_finish = True  # a member skipped now may be free once a running result ends
                self._queue.extend(events)
            self._changed.notify_all()
        if closed and events:
            self._give_back([event.id for event in events])

    def _run(self, event: InboxEvent) -> None:
        try:
            self._apply(event)
        except Exception:
            log.exception("applying event %s failed outside its use case; it is taken again when its lease ends", event.id)
        finally:
            with self._lock:
                self._running -= 1
                if self._draining:
                    self._tried.add(event.id)  # not taken again by this drain, however soon its retry is due
                # A claim running now may have skipped this member as still in flight: look again after it too.
                if (self._after_finish or self._claiming) and not self._closed:
                    self._after_finish = False
                    self._want_fresh = True
                self._changed.notify_all()

    def _give_back(self, event_ids: list[int]) -> None:
        try:
            self._release(event_ids)
        except Exception:  # noqa: BLE001 - their leases end by themselves; another worker takes them then
            log.warning("could not give back %d event(s); their leases will end", len(event_ids))
