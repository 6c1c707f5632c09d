"""The bridge's own store: SQLite by default, PostgreSQL in production.

:class:`Store` owns the two state machines the bridge keeps, the inbox of
received results and the outbox of mail and alerts, and the ledger. Every
transition is one method and one transaction; nothing outside this package
writes SQL. No transaction is ever held open across a call to Fabman or SMTP.
Each further part of the store (jobs, ...) is a mixin over
:class:`~bridge.adapters.store.database.Database` in its own module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table

from bridge.adapters.store.console import ConsoleQueries, SignInLimits
from bridge.adapters.store.courses import CourseStore
from bridge.adapters.store.database import MIGRATIONS, Database, normalise_url
from bridge.adapters.store.evidence import EvidenceStore
from bridge.adapters.store.inbox import INBOX_CHANNEL, InboxStore
from bridge.adapters.store.jobs import JobRunRow, JobStore
from bridge.adapters.store.ledger import LedgerStore
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
    "InboxEvent",
    "InboxListener",
    "JobRunRow",
    "LedgerEntry",
    "OutboxMessage",
    "SignInLimits",
    "Store",
    "normalise_url",
]


class Store(ConsoleQueries, Database):
    """The relational store behind the inbox, the outbox, the ledger and the jobs."""

    def __init__(self, url: str, *, clock: Clock | None = None) -> None:
        super().__init__(url, clock=clock)
        self.database: Database = self
        self.evidence = EvidenceStore(self.database)
        self.outbox = OutboxStore(self.database)
        self.ledger = LedgerStore(self.database)
        self.inbox = InboxStore(self.database, outbox=self.outbox, ledger=self.ledger, evidence=self.evidence)
        self.jobs = JobStore(self.database)
        self.privacy = PrivacyStore(self.database, evidence=self.evidence)
        self.reconcile = ReconcileStore(self.database, outbox=self.outbox)
        self.rules = RulesStore(self.database, outbox=self.outbox)
        self.courses = CourseStore(self.database, ledger=self.ledger, evidence=self.evidence)

    def empty(self, seeded: Sequence[tuple[Table, list[dict[str, Any]]]] = ()) -> None:
        """Every table empty and every id restarting at 1, as a freshly migrated store (tests only)."""
        super().empty([*seeded, *self.evidence.seeded_rows()])
