"""Fixtures for reconciliation: a bridge that asks the simulated ClassMarker account's results API.

The account, its API and `reconciling` live in tests/conftest.py (the console's
tests use them too); they share the test's clock with the bridge.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

from bridge.application import Bridge, bridge_of
from bridge.clock import SettableClock
from sandbox.simulator import FabmanSimulator
from sandbox.simulator.classmarker import ClassMarkerAccount, ClassMarkerWebhookSender

PETRA, JAN, LASER, CNC = 1, 2, 2, 4
STAFF = "staff@fablab.example"
WEBHOOK = "/add_classmarker_training"


@pytest.fixture
def app(reconciling: Callable[..., Flask], clock: SettableClock) -> Flask:
    return reconciling(clock)


def token(bridge: Bridge, member_id: int, course_id: int) -> str:
    """The cm_user_id of the member's personal quiz link."""
    return bridge.codec.encode(member_id, course_id)


def course_records(simulator: FabmanSimulator, member_id: int, course_id: int) -> list[dict[str, object]]:
    return [r for r in simulator.state.trainings_of(member_id) if r["trainingCourse"] == course_id]


class ServedBridge:
    """The app on a real loopback port (werkzeug, threaded), for ClassMarker's webhook sender to POST to."""

    def __init__(self, app: Flask) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.app = app
        self.bridge = bridge_of(app)

    def settle(self) -> None:
        """Wait (with a deadline) until the results the webhook accepted are applied and their mail handled."""
        if not self.bridge.applier.wait_idle(timeout=60):
            raise AssertionError("the apply pool did not finish within 60 s")
        if not self.bridge.sender.wait_idle(timeout=60):
            raise AssertionError("the outbox sender did not finish within 60 s")


@pytest.fixture
def served(app: Flask) -> Iterator[ServedBridge]:
    served = ServedBridge(app)
    served.thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def sender(account: ClassMarkerAccount, served: ServedBridge) -> Iterator[ClassMarkerWebhookSender]:
    """ClassMarker's webhook, pointed at the served bridge."""
    with ClassMarkerWebhookSender(account, served.url + WEBHOOK) as webhook:
        yield webhook
