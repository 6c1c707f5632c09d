"""Shared fixtures: the app (flaskr style), the Fabman simulator, a real SMTP server, the store.

The store is SQLite in a temporary folder unless TEST_DATABASE_URL points at
PostgreSQL; then every test starts from an empty schema there.

A test that starts a server or a process, or opens a socket (the simulator,
the SMTP sink and PostgreSQL are all behind one), is marked `e2e`; any other
test that tries is stopped, so `-m "not e2e"` stays fast.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.test import TestResponse

from bridge import create_app
from bridge.adapters.store import Store
from bridge.application import Bridge, bridge_of
from bridge.clock import Clock, SettableClock
from bridge.config import load_settings
from bridge.domain.calendar import today_in
from harness import CRON_TOKEN, FABMAN_WEBHOOK_TOKEN, WEBHOOK_SECRET
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from sandbox.simulator.classmarker import ClassMarkerAccount, ClassMarkerApiSimulator
from sandbox.simulator.seed import demo_state
from tests.support import no_sockets_or_processes, own_database

FERNET_KEY = Fernet.generate_key().decode("ascii")
EVIDENCE_SIGNING_KEY = base64.b64encode(os.urandom(32)).decode("ascii")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker gets a PostgreSQL database of its own (`<name>_gw0`, ...), made on first use."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get("TEST_DATABASE_URL", "")
    if worker and url.startswith("postgres"):
        os.environ["TEST_DATABASE_URL"] = own_database(url, worker)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store-only",
        action="store_true",
        help="run only the tests that reach the store (the PostgreSQL pass: the others cannot differ from the SQLite pass)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --store-only, keep the tests that use the store fixture or read TEST_DATABASE_URL themselves."""
    if not config.getoption("--store-only"):
        return
    kept: list[pytest.Item] = []
    left: list[pytest.Item] = []
    for item in items:
        source = getattr(item, "module", None)
        reads_url = source is not None and "TEST_DATABASE_URL" in Path(str(source.__file__)).read_text(encoding="utf-8")
        (kept if "database_url" in getattr(item, "fixturenames", ()) or reads_url else left).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
    items[:] = kept


def is_e2e(request: pytest.FixtureRequest) -> bool:
    """Whether the requesting test is marked e2e (it may start servers and processes)."""
    return request.node.get_closest_marker("e2e") is not None


@pytest.fixture(autouse=True)
def _only_e2e_reaches_out(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test not marked e2e opens no socket and starts no process (tests/unit/conftest.py: not even if marked)."""
    if is_e2e(request):
        yield
        return
    with no_sockets_or_processes(request.node.nodeid):
        yield


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp(smtp_server: SmtpSink) -> SmtpSink:
    """The SMTP sink, emptied for this test."""
    smtp_server.clear()
    return smtp_server


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store for one test; PostgreSQL is a socket away, so only e2e tests get one."""
    if not is_e2e(request):
        pytest.fail("the store may be PostgreSQL, behind a socket: mark the test e2e or use SQLite in tmp_path", pytrace=False)
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path / 'bridge.sqlite3'}"
        return
    store = Store(url)
    store.empty()
    store.dispose()
    yield url


@pytest.fixture
def bare_database_url(database_url: str) -> str:
    """A store with no schema at all, for tests of the migrations themselves."""
    if not database_url.startswith("sqlite"):
        store = Store(database_url)
        store.drop_all()
        store.dispose()
    return database_url


@pytest.fixture
def simulator() -> Iterator[FabmanSimulator]:
    """The Fabman simulator with the FabLab Brno sample data, dated in the bridge's time zone."""
    with FabmanSimulator(demo_state(today_in(ZoneInfo("Europe/Prague")))) as sim:
        yield sim


@pytest.fixture
def env(simulator: FabmanSimulator, smtp: SmtpSink, database_url: str) -> dict[str, str]:
    """The environment of a bridge wired to the simulator, the SMTP sink and the test store."""
    return {
        "FABMAN_API_KEY": simulator.api_key,
        "FABMAN_API_URL": simulator.base_url,
        "FERNET_KEY": FERNET_KEY,
        "CLASSMARKER_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CRONJOB_TOKEN": CRON_TOKEN,
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": database_url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp.port),
        "MAIL_DEFAULT_SENDER": "bridge@fablab.example",
        "FABLAB_SUPPORT_EMAIL": "staff@fablab.example",
        "COURSES_WEB_URL": "https://courses.fablab.example/member",
        "COURSES_WEB_PRIVATE_KEY": "courses-key",
        "RETRY_BASE_SECONDS": "0",
        # A bridge served by gunicorn runs its own jobs; tests that want them turn them on.
        "JOBS": "off",
        "FABMAN_WEBHOOK_TOKEN": FABMAN_WEBHOOK_TOKEN,
        "EVIDENCE_SIGNING_KEY": EVIDENCE_SIGNING_KEY,
    }


class ServerLikeClient(FlaskClient):
    """The test client, closing each response after reading it as a WSGI server does.

    Work a view defers until its answer is out (`call_on_close`, e.g.
    handling a Fabman event after Fabman has its answer) then runs before the
    test looks, and so do the results the webhook handed to the app's apply
    pool and the mail the outbox sender was woken for: the client waits (a
    condition, with a deadline) until the appliers and then the sender are
    idle.
    """

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        response = super().open(*args, **kwargs)
        if not kwargs.get("buffered"):
            response.make_sequence()
            response.close()
        bridge = bridge_of(self.application)
        if not bridge.applier.wait_idle(timeout=60):
            raise AssertionError(f"the apply pool still holds {bridge.applier.busy()} event(s) after 60 s")
        if not bridge.sender.wait_idle(timeout=60):
            raise AssertionError(f"the outbox sender still holds {bridge.sender.busy()} piece(s) of work after 60 s")
        return response


@pytest.fixture
def make_app(env: dict[str, str]) -> Iterator[Callable[..., Flask]]:
    """Build apps from the test environment plus overrides (None removes a variable)."""
    built: list[Flask] = []

    def build(clock: Clock | None = None, **overrides: Any) -> Flask:
        merged = {**env, **{k: v for k, v in overrides.items() if v is not None}}
        for key, value in overrides.items():
            if value is None:
                merged.pop(key, None)
        app = create_app(load_settings(merged), clock=clock)
        app.config["TESTING"] = True
        app.test_client_class = ServerLikeClient
        built.append(app)
        return app

    yield build
    for app in built:
        bridge_of(app).close()


@pytest.fixture
def clock() -> SettableClock:
    """The test's clock: it stands still until the test moves it."""
    return SettableClock()


@pytest.fixture
def app(make_app: Callable[..., Flask], clock: SettableClock) -> Flask:
    return make_app(clock=clock)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def bridge(app: Flask) -> Bridge:
    """The app's application object: its use cases and adapters (store, codec, outbox...)."""
    return bridge_of(app)


@pytest.fixture
def api_headers(simulator: FabmanSimulator) -> dict[str, str]:
    """What the FabLab web sends."""
    return {"Authorization": simulator.api_key}


@pytest.fixture
def cron_headers() -> dict[str, str]:
    """What the scheduler sends."""
    return {"CronjobToken": CRON_TOKEN}


# -- ClassMarker's side, for reconciliation ---------------------------------------------------------


@pytest.fixture
def account(clock: SettableClock) -> ClassMarkerAccount:
    """The FabLab's ClassMarker account, its webhook secret the one the bridge is configured with.

    It shares the test's clock, so the API's timestamp check, its hourly
    limit, the bridge's request budget and the daily gap alert all move when
    the test moves the clock.
    """
    return ClassMarkerAccount(webhook_secret=WEBHOOK_SECRET, clock=clock.now)


@pytest.fixture
def classmarker(account: ClassMarkerAccount) -> Iterator[ClassMarkerApiSimulator]:
    """ClassMarker's results API on loopback."""
    with ClassMarkerApiSimulator(account) as api:
        yield api


@pytest.fixture
def reconciling(
    make_app: Callable[..., Flask], account: ClassMarkerAccount, classmarker: ClassMarkerApiSimulator
) -> Callable[..., Flask]:
    """Builds bridges with the API credentials of the account (more overrides as keyword arguments)."""

    def build(clock: SettableClock, **overrides: str | None) -> Flask:
        return make_app(
            clock=clock,
            **{
                "CLASSMARKER_API_URL": classmarker.base_url,
                "CLASSMARKER_API_KEY": account.api_key,
                "CLASSMARKER_API_SECRET": account.api_secret,
                **overrides,
            },
        )

    return build
