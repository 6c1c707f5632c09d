"""Shared fixtures: the app (flaskr style), the Fabman simulator, the mailbox, the store.

One builder, `make_app`, wires a bridge to the world the test lives in:

- a test not marked `e2e` gets the Fabman simulator in process (its app behind
  a `requests` transport adapter mounted on the bridge's Fabman session, so the
  real client and the same simulator app answer, with no socket), an
  in-process mailbox (Flask-Mail's sending suppressed, each dispatched
  message parsed as SMTP would carry it) and SQLite in tmp_path;
- a test marked `e2e` gets the simulator on loopback, the aiosmtpd sink and
  the store TEST_DATABASE_URL names.

`simulator` and `smtp` have the same interface in both worlds. The store is
SQLite in a temporary folder unless TEST_DATABASE_URL points at PostgreSQL
(the `--store-only` pass); then every test that reaches the store, in-process
or not, starts from an empty schema there.

A test that starts a server or a process, or opens a socket, is marked `e2e`;
any other test that tries is stopped (outside the PostgreSQL pass, whose store
is itself behind a socket), so `-m "not e2e"` stays fast.
"""

from __future__ import annotations

import base64
import os
import shutil
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
from harness.mailbox import InProcessMailbox
from sandbox.simulator import FabmanSimulator
from sandbox.simulator.classmarker import ClassMarkerAccount, ClassMarkerApiSimulator
from sandbox.simulator.in_process import InProcessClassMarkerApi, InProcessFabman
from sandbox.simulator.seed import demo_state
from tests.support import is_e2e, no_sockets_or_processes, own_database

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


def reaches_postgres(request: pytest.FixtureRequest) -> bool:
    """Whether the test's store is PostgreSQL (the --store-only pass), behind a socket whatever the test's marks."""
    return "database_url" in request.fixturenames and os.environ.get("TEST_DATABASE_URL", "").startswith("postgres")


@pytest.fixture(autouse=True)
def _only_e2e_reaches_out(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test not marked e2e opens no socket and starts no process (tests/unit/conftest.py: not even if marked)."""
    if is_e2e(request) or reaches_postgres(request):
        yield
        return
    with no_sockets_or_processes(request.node.nodeid):
        yield


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


Mailbox = SmtpSink | InProcessMailbox
"""Where a test reads the mail its bridge sent: the same interface in both worlds."""


@pytest.fixture
def smtp(request: pytest.FixtureRequest) -> Iterator[Mailbox]:
    """The mailbox, empty for this test: the SMTP sink for an e2e test, else the in-process mailbox."""
    if not is_e2e(request):
        mailbox = InProcessMailbox()
        yield mailbox
        mailbox.disconnect()
        return
    sink: SmtpSink = request.getfixturevalue("smtp_server")
    sink.clear()
    yield sink


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite store migrated to the newest revision once per session; each test's store is a copy.

    Migrating takes most of building a bridge; the migrations themselves are
    tested on a bare store (`bare_database_url`) and on older schemas.
    """
    path = tmp_path_factory.mktemp("template") / "bridge.sqlite3"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    store.dispose()
    return path


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A fresh, empty store at the newest revision for one test: SQLite in tmp_path, or PostgreSQL in the --store-only pass."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        path = tmp_path / "bridge.sqlite3"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    store = Store(url)
    store.empty()
    store.dispose()
    yield url


@pytest.fixture
def bare_database_url(database_url: str, tmp_path: Path) -> str:
    """A store with no schema at all, for tests of the migrations themselves."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'bare.sqlite3'}"
    store = Store(database_url)
    store.database.drop_all()
    store.dispose()
    return database_url


Fabman = FabmanSimulator | InProcessFabman
"""The Fabman simulator on loopback or in process: the same interface (state, faults, requests, URLs, key)."""


@pytest.fixture
def simulator(request: pytest.FixtureRequest) -> Iterator[Fabman]:
    """The Fabman simulator with the FabLab Brno sample data, dated in the bridge's time zone.

    On loopback for an e2e test; in process (reached only through the bridge's mounted session) otherwise.
    """
    state = demo_state(today_in(ZoneInfo("Europe/Prague")))
    with FabmanSimulator(state) if is_e2e(request) else InProcessFabman(state) as sim:
        yield sim


@pytest.fixture
def env(simulator: Fabman, smtp: Mailbox, database_url: str) -> dict[str, str]:
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
        **({"MAIL_SUPPRESS_SEND": "true"} if isinstance(smtp, InProcessMailbox) else {}),
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
def make_app(
    env: dict[str, str], simulator: Fabman, smtp: Mailbox, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Flask]]:
    """Build apps from the test environment plus overrides (None removes a variable), wired to the test's world.

    In process, the bridge's Fabman session has the simulator's adapter mounted
    and its mail lands in the in-process mailbox.
    """
    built: list[Flask] = []

    def build(clock: Clock | None = None, **overrides: Any) -> Flask:
        merged = {**env, **{k: v for k, v in overrides.items() if v is not None}}
        for key, value in overrides.items():
            if value is None:
                merged.pop(key, None)
        # The test's own store is at the newest revision already (a copy of the migrated SQLite template, or the
        # PostgreSQL store emptied at head): migrating it again would change nothing. A bare store is migrated.
        at_head = merged.get("DATABASE_URL") == env["DATABASE_URL"] and "bare_database_url" not in request.fixturenames
        app = create_app(load_settings(merged), clock=clock, migrate=not at_head)
        app.config["TESTING"] = True
        app.test_client_class = ServerLikeClient
        if isinstance(simulator, InProcessFabman):
            simulator.mount(bridge_of(app).fabman.session)
        if isinstance(smtp, InProcessMailbox) and app.extensions["mail"].suppress:
            smtp.connect(app)
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
def api_headers(simulator: Fabman) -> dict[str, str]:
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
def classmarker(request: pytest.FixtureRequest, account: ClassMarkerAccount) -> Iterator[ClassMarkerApiSimulator]:
    """ClassMarker's results API: on loopback for an e2e test, else in process (mounted by `reconciling`)."""
    with ClassMarkerApiSimulator(account) if is_e2e(request) else InProcessClassMarkerApi(account) as api:
        yield api


@pytest.fixture
def reconciling(
    make_app: Callable[..., Flask], account: ClassMarkerAccount, classmarker: ClassMarkerApiSimulator
) -> Callable[..., Flask]:
    """Builds bridges with the API credentials of the account (more overrides as keyword arguments)."""

    def build(clock: SettableClock, **overrides: str | None) -> Flask:
        app = make_app(
            clock=clock,
            **{
                "CLASSMARKER_API_URL": classmarker.base_url,
                "CLASSMARKER_API_KEY": account.api_key,
                "CLASSMARKER_API_SECRET": account.api_secret,
                **overrides,
            },
        )
        bridge = bridge_of(app)
        if isinstance(classmarker, InProcessClassMarkerApi) and bridge.reconciliation_enabled:
            classmarker.mount(bridge.classmarker_api().session)
        return app

    return build
