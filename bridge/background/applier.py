"""A bounded pool per process that applies results the moment the webhook has answered.

The webhook reserves a slot before storing a result; with a slot the result
is stored already claimed and handed here, without one (the pool is busy) it
is stored queued and the retry job applies it. So the pool never grows
without bound, and a result is never lost: every claimed event is either
applied, released on shutdown, or picked up again when its lease ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from bridge.adapters.store import InboxEvent

log = logging.getLogger(__name__)


class Applier:
    """Applies accepted events on `workers` threads, with at most `workers` more waiting."""

    def __init__(self, workers: int, apply: Callable[[InboxEvent], object], release: Callable[[int], None]) -> None:
        self.workers = workers
        self._apply = apply
        self._release = release
        self._slots = threading.BoundedSemaphore(workers * 2)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending: dict[int, Future[None]] = {}
        self._closed = False

    def reserve(self) -> bool:
        """Take a slot for one event, without waiting; False when the pool is full or shutting down."""
        if self._closed:
            return False
        return self._slots.acquire(blocking=False)

    def cancel(self) -> None:
        """Give back a slot that was reserved but not used (the result was a duplicate, ignored...)."""
        self._slots.release()

    def submit(self, event: InboxEvent) -> None:
        """Apply a claimed event on the pool, using the slot reserved for it."""
        with self._lock:
            if self._closed:
                self._slots.release()
                self._release(event.id)
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="apply")
            self._pending[event.id] = self._pool.submit(self._run, event)

    def _run(self, event: InboxEvent) -> None:
        try:
            self._apply(event)
        except Exception:  # noqa: BLE001 - the event keeps its lease; the retry job takes it when it ends
            log.exception("applying event %s failed outside its use case; the retry job will take it", event.id)
        finally:
            with self._lock:
                self._pending.pop(event.id, None)
                self._idle.notify_all()
            self._slots.release()

    def busy(self) -> int:
        """Events accepted and not yet applied by this process."""
        with self._lock:
            return len(self._pending)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every accepted event is applied; False when `timeout` seconds passed first."""
        with self._lock:
            return self._idle.wait_for(lambda: not self._pending, timeout=timeout)

    def shutdown(self, timeout: float) -> None:
        """Stop taking events; give back those not started, let running ones finish for up to `timeout` s."""
        with self._lock:
            self._closed = True
            waiting = [event_id for event_id, future in self._pending.items() if future.cancel()]
            for event_id in waiting:
                self._pending.pop(event_id, None)
        for event_id in waiting:
            try:
                self._release(event_id)
            except Exception:  # noqa: BLE001 - its lease ends by itself; the retry job takes it then
                log.warning("could not release event %s on shutdown; its lease will end", event_id)
        if waiting:
            log.info("shutdown: %d accepted event(s) given back to the queue", len(waiting))
        if not self.wait_idle(timeout):
            log.warning("shutdown: %d event(s) still being applied; their leases let another worker finish them", self.busy())
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
