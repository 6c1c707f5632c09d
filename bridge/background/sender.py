"""The outbox sender's prompt lane: sends a message queued by a request right after that request, on a thread.

A request that must answer in the same time whatever happens next (the staff
sign-in) queues its message and hands the id here; the mail is sent beside
the answer, never inside it, and the retry job sends whatever this lane did
not (a stopped worker, a full lane). So the time of the answer tells nothing
about what the sender found.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

MAX_WAITING = 64
"""Most messages waiting in one process's lane; past it the retry job sends them."""


class PromptSender:
    """Sends queued messages by id on one thread, at most MAX_WAITING waiting."""

    def __init__(self, send: Callable[[list[int]], object]) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._waiting = 0
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False

    def submit(self, message_id: int) -> bool:
        """Send this message soon; False when the lane is full or closed (the retry job sends it then)."""
        with self._lock:
            if self._closed or self._waiting >= MAX_WAITING:
                return False
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="send")
            self._waiting += 1
            self._pool.submit(self._run, message_id)
            return True

    def _run(self, message_id: int) -> None:
        try:
            self._send([message_id])
        except Exception:
            log.exception("sending outbox message %s failed outside the outbox; the retry job will send it", message_id)
        finally:
            with self._lock:
                self._waiting -= 1
                self._idle.notify_all()

    def busy(self) -> int:
        """Messages handed here and not yet sent."""
        with self._lock:
            return self._waiting

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every handed message is sent (or failed); False when `timeout` seconds passed first."""
        with self._lock:
            return self._idle.wait_for(lambda: self._waiting == 0, timeout=timeout)

    def shutdown(self, timeout: float) -> None:
        """Take no more; let what waits be sent for up to `timeout` s (the rest stays queued in the store)."""
        with self._lock:
            self._closed = True
        self.wait_idle(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
