"""The store's part for in-process jobs: who may run a job now, and what each run did.

A job is taken by winning its lease row with one conditional UPDATE, the same
statement on SQLite and PostgreSQL, so several workers of one instance and
several instances sharing one database never run a job at the same time. A
worker that dies mid-run stops renewing its lease; the job is free again when
the lease ends.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, delete, func, select, update
from sqlalchemy.orm import Mapped, mapped_column

from bridge.adapters.store.database import Database, changed
from bridge.adapters.store.models import Base, UtcDateTime


class JobRunRow(Base):
    """One run of a job (retry, expiry sweep, reconciliation, ...), as its row in `job_runs`: when, how long, what it did."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_name_started", "name", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    owner: Mapped[str] = mapped_column(String(120))
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)


class JobLock(Base):
    """Who runs a job right now: a lease row per job, so no two workers or instances run it at once."""

    __tablename__ = "job_locks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class JobStore:
    """Job leases and run records (`store.jobs`)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def take(self, name: str, owner: str, lease_seconds: float) -> bool:
        """Win the job's lease unless another live owner holds it."""
        now = self._db.now()
        with self._db.write() as session:
            self._db.insert_ignore(session, JobLock, {"name": name, "owner": None, "lease_until": None})
            taken = changed(
                session,
                update(JobLock)
                .where(
                    JobLock.name == name, JobLock.lease_until.is_(None) | (JobLock.lease_until < now) | (JobLock.owner == owner)
                )
                .values(owner=owner, lease_until=now + dt.timedelta(seconds=lease_seconds)),
            )
        return bool(taken)

    def renew(self, name: str, owner: str, lease_seconds: float) -> bool:
        """Extend a held lease; False when this owner no longer holds it."""
        with self._db.write() as session:
            return bool(
                changed(
                    session,
                    update(JobLock)
                    .where(JobLock.name == name, JobLock.owner == owner)
                    .values(lease_until=self._db.now() + dt.timedelta(seconds=lease_seconds)),
                )
            )

    def release(self, name: str, owner: str) -> None:
        """Give the job's lease back."""
        with self._db.write() as session:
            session.execute(
                update(JobLock).where(JobLock.name == name, JobLock.owner == owner).values(owner=None, lease_until=None)
            )

    def start_run(self, name: str, owner: str) -> int:
        """Record that a run began; its id."""
        with self._db.write() as session:
            run = JobRunRow(name=name, owner=owner, started_at=self._db.now())
            session.add(run)
            session.flush()
            return run.id

    def finish_run(self, run_id: int, *, summary: dict[str, Any] | None = None, error: str | None = None) -> None:
        """Record how a run ended."""
        with self._db.write() as session:
            session.execute(
                update(JobRunRow)
                .where(JobRunRow.id == run_id)
                .values(finished_at=self._db.now(), summary=summary, error=error[:500] if error else None)
            )

    def last_run(self, name: str, *, succeeded: bool = False) -> JobRunRow | None:
        """The newest run of one job (with `succeeded`, the newest that finished without an error)."""
        with self._db.read() as session:
            query = select(JobRunRow).where(JobRunRow.name == name)
            if succeeded:
                query = query.where(JobRunRow.finished_at.is_not(None), JobRunRow.error.is_(None))
            return session.scalars(query.order_by(JobRunRow.started_at.desc(), JobRunRow.id.desc())).first()

    def latest_runs(self) -> dict[str, JobRunRow]:
        """The newest run of every job that ever ran."""
        with self._db.read() as session:
            newest = select(func.max(JobRunRow.id)).group_by(JobRunRow.name)
            return {run.name: run for run in session.scalars(select(JobRunRow).where(JobRunRow.id.in_(newest)))}

    def prune_runs(self, older_than: dt.timedelta) -> int:
        """Forget runs that started longer ago than `older_than` (the retry job alone records thousands a day)."""
        with self._db.write() as session:
            return int(changed(session, delete(JobRunRow).where(JobRunRow.started_at < self._db.now() - older_than)))

    def runs(self, *, name: str | None = None, limit: int = 50) -> list[JobRunRow]:
        """Recent runs, newest first."""
        with self._db.read() as session:
            query = select(JobRunRow).order_by(JobRunRow.started_at.desc(), JobRunRow.id.desc()).limit(limit)
            if name:
                query = query.where(JobRunRow.name == name)
            return list(session.scalars(query))


__all__ = ["JobLock", "JobRunRow", "JobStore"]
