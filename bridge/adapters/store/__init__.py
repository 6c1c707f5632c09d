"""The bridge's own store: SQLite by default, PostgreSQL in production.

:class:`Store` is a composition of parts, each in its own module with its
models and statements: `store.inbox` (results received, as a work queue and
a state machine), `store.outbox` (mail and alerts to send), `store.ledger`
(trainings granted), `store.evidence` (the evidence log), `store.jobs`,
`store.console`, `store.courses`, `store.privacy`, `store.reconcile` and
`store.rules`. Every part runs on one shared
:class:`~bridge.adapters.store.database.Database` (engine, transactions,
clock). Every transition is one method and one transaction: a transition
that spans several parts' tables is opened by the part that owns it, which
hands its session to the others' session-taking helpers (`OutboxStore.add`,
`LedgerStore.add`, `EvidenceStore.append`). Nothing outside this package
writes SQL, and no transaction is ever held open across a call to Fabman or
SMTP.
"""

from __future__ import annotations

import datetime as dt

from bridge.adapters.store.console import ConsoleStore, SignInLimits
from bridge.adapters.store.courses import CourseStore
from bridge.adapters.store.database import MIGRATIONS, Database, normalise_url
from bridge.adapters.store.evidence import EvidenceStore
from bridge.adapters.store.inbox import INBOX_CHANNEL, InboxStore
from bridge.adapters.store.jobs import JobRunRow, JobStore
from bridge.adapters.store.ledger import Grant, LedgerStore
from bridge.adapters.store.listening import InboxListener
from bridge.adapters.store.models import InboxEvent, LedgerEntry, OutboxMessage
from bridge.adapters.store.outbox import OutboxStore
from bridge.adapters.store.privacy import PrivacyStore
from bridge.adapters.store.reconcile import ReconcileStore
from bridge.adapters.store.rules import RulesStore
from bridge.clock import Clock

__all__ = [
    "INBOX_CHANNEL",
    "MIGRATIONS",
    "Database",
    "Grant",
    "InboxEvent",
    "InboxListener",
    "JobRunRow",
    "LedgerEntry",
    "OutboxMessage",
    "SignInLimits",
    "Store",
    "normalise_url",
]


class Store:
    """The bridge's store: one database and the parts that own its tables."""

    def __init__(self, url: str, *, clock: Clock | None = None) -> None:
        self.database = Database(url, clock=clock)
        self.evidence = EvidenceStore(self.database)
        self.outbox = OutboxStore(self.database)
        self.ledger = LedgerStore(self.database)
        self.inbox = InboxStore(self.database, outbox=self.outbox, ledger=self.ledger, evidence=self.evidence)
        self.jobs = JobStore(self.database)
        self.console = ConsoleStore(self.database, outbox=self.outbox)
        self.courses = CourseStore(self.database, ledger=self.ledger, evidence=self.evidence)
        self.privacy = PrivacyStore(self.database, evidence=self.evidence)
        self.reconcile = ReconcileStore(self.database, outbox=self.outbox)
        self.rules = RulesStore(self.database, outbox=self.outbox)

    def now(self) -> dt.datetime:
        """The store's clock (UTC, aware)."""
        return self.database.now()

    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe when many processes start at once."""
        self.database.migrate()

    def ping(self) -> None:
        """Raise when the store cannot be reached."""
        self.database.ping()

    def dispose(self) -> None:
        """Close pooled connections."""
        self.database.dispose()

    def empty(self) -> None:
        """Every table empty and every id restarting at 1, as a freshly migrated store (tests only)."""
        self.database.empty(self.evidence.seeded_rows())
