"""The harness's one wait: every way a probe of a starting server fails means "not yet", anything else stops the wait."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable

import pytest
import requests

from harness.wait import WaitTimedOut, wait_until

PROBE_FAILURES = [
    requests.ConnectionError("refused"),
    requests.ConnectTimeout("connect timed out"),
    requests.ReadTimeout("read timed out"),  # escaped the debugger test's old loop under load
    requests.exceptions.ChunkedEncodingError("cut short"),
    http.client.RemoteDisconnected("closed without an answer"),
    ConnectionResetError("reset"),
    TimeoutError("socket timed out"),
]


def failing_then(outcome: object, failures: list[BaseException]) -> Callable[[], object]:
    """A probe that fails in each of these ways once, then returns `outcome`."""
    left = list(failures)

    def probe() -> object:
        if left:
            raise left.pop(0)
        return outcome

    return probe


def test_every_way_a_probe_fails_is_waited_out_and_the_answer_returned() -> None:
    assert wait_until(failing_then("ready", PROBE_FAILURES), timeout=10, what="ready", interval=0) == "ready"


def test_a_falsy_answer_is_waited_out_too() -> None:
    answers = iter([0, None, [], 3])

    assert wait_until(lambda: next(answers), timeout=10, what="three", interval=0) == 3


def test_any_other_error_stops_the_wait_at_once() -> None:
    def exited() -> bool:
        raise RuntimeError("gunicorn exited with 3")

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="exited with 3"):
        wait_until(exited, timeout=10, what="gunicorn")
    assert time.monotonic() - started < 5


def test_the_deadline_names_what_was_awaited_and_the_last_probe_failure() -> None:
    def timing_out() -> bool:
        raise requests.ReadTimeout("read timed out")

    started = time.monotonic()
    with pytest.raises(WaitTimedOut, match=r"flask run answering /health: not within 0\.2 s; .*ReadTimeout"):
        wait_until(timing_out, timeout=0.2, what="flask run answering /health")
    assert time.monotonic() - started >= 0.2
