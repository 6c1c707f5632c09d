"""Waiting for a condition with a deadline: the one way tests, bench and reliability poll.

A probe of a server that is still starting, or busy, fails in many ways: the
connection is refused or reset, the connect or the read times out, the answer
is cut short. Each of those means "not yet"; catching only one of them let a
`ReadTimeout` escape a wait loop under load and fail a test that was fine.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from typing import TypeVar

import requests

T = TypeVar("T")

PROBE_FAILURES: tuple[type[BaseException], ...] = (requests.RequestException, http.client.HTTPException, OSError)
"""How a probe fails while its server is not ready: requests' ConnectionError, ConnectTimeout and ReadTimeout,
http.client's cut answers, and the socket errors (refused, reset, timed out) beneath them."""


class WaitTimedOut(RuntimeError):
    """The condition did not hold before the deadline."""


def wait_until(condition: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05) -> T:
    """Call `condition` until it returns something truthy and return that, or raise WaitTimedOut after `timeout` s.

    A probe failure (see PROBE_FAILURES) counts as "not yet" and is named in
    the timeout's message; any other exception, such as the process being
    waited for having exited, propagates at once.
    """
    deadline = time.monotonic() + timeout
    last_failure: BaseException | None = None
    while True:
        try:
            outcome = condition()
        except PROBE_FAILURES as failure:
            last_failure = failure
        else:
            if outcome:
                return outcome
        left = deadline - time.monotonic()
        if left <= 0:
            detail = f"; last probe failed with {last_failure!r}" if last_failure is not None else ""
            raise WaitTimedOut(f"{what}: not within {timeout:g} s{detail}")
        time.sleep(min(interval, left))
