"""The store's side of in-process jobs: who may run a job now, and what each run did.

A job is taken by winning its lease row with one conditional UPDATE, the same
statement on SQLite and PostgreSQL, so several workers of one instance and
several instances sharing one database never run a job at the same time. A
worker that dies mid-run stops renewing its lease; the job is free again when
the lease ends.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, select, update

from bridge.adapters.store.core import StoreBase, changed
from bridge.adapters.store.models import JobLock, JobRunRow


class JobQueries(StoreBase):
    """Job leases and run records; mixed into :class:`~bridge.adapters.store.Store`."""

    def take_job(self, name: str, owner: str, lease_seconds: float) -> bool:
        """Win the job's lease unless another live owner holds it."""
        now = self.now()
        with self._write() as session:
            self._insert_ignore(session, JobLock, {"name": name, "owner": None, "lease_until": None})
            taken = changed(
                session,
                update(JobLock)
                .where(
                    JobLock.name == name, JobLock.lease_until.is_(None) | (JobLock.lease_until < now) | (JobLock.owner == owner)
                )
                .values(owner=owner, lease_until=now + dt.timedelta(seconds=lease_seconds)),
            )
        return bool(taken)

    def renew_job(self, name: str, owner: str, lease_seconds: float) -> bool:
        """Extend a held lease; False when this owner no longer holds it."""
        with self._write() as session:
            return bool(
                changed(
                    session,
                    update(JobLock)
                    .where(JobLock.name == name, JobLock.owner == owner)
                    .values(lease_until=self.now() + dt.timedelta(seconds=lease_seconds)),
                )
            )

    def release_job(self, name: str, owner: str) -> None:
        """Give the job's lease back."""
        with self._write() as session:
            session.execute(
                update(JobLock).where(JobLock.name == name, JobLock.owner == owner).values(owner=None, lease_until=None)
            )

    def start_job_run(self, name: str, owner: str) -> int:
        """Record that a run began; its id."""
        with self._write() as session:
            run = JobRunRow(name=name, owner=owner, started_at=self.now())
            session.add(run)
            session.flush()
            return run.id

    def finish_job_run(self, run_id: int, *, summary: dict[str, Any] | None = None, error: str | None = None) -> None:
        """Record how a run ended."""
        with self._write() as session:
            session.execute(
                update(JobRunRow)
                .where(JobRunRow.id == run_id)
                .values(finished_at=self.now(), summary=summary, error=error[:500] if error else None)
            )

    def last_job_run(self, name: str, *, succeeded: bool = False) -> JobRunRow | None:
        """The newest run of one job (with `succeeded`, the newest that finished without an error)."""
        with self._read() as session:
            query = select(JobRunRow).where(JobRunRow.name == name)
            if succeeded:
                query = query.where(JobRunRow.finished_at.is_not(None), JobRunRow.error.is_(None))
            return session.scalars(query.order_by(JobRunRow.started_at.desc(), JobRunRow.id.desc())).first()

    def job_runs_latest(self) -> dict[str, JobRunRow]:
        """The newest run of every job that ever ran."""
        with self._read() as session:
            newest = select(func.max(JobRunRow.id)).group_by(JobRunRow.name)
            return {run.name: run for run in session.scalars(select(JobRunRow).where(JobRunRow.id.in_(newest)))}

    def prune_job_runs(self, older_than: dt.timedelta) -> int:
        """Forget runs that started longer ago than `older_than` (the retry job alone records thousands a day)."""
        with self._write() as session:
            return int(changed(session, delete(JobRunRow).where(JobRunRow.started_at < self.now() - older_than)))

    def job_runs(self, *, name: str | None = None, limit: int = 50) -> list[JobRunRow]:
        """Recent runs, newest first."""
        with self._read() as session:
            query = select(JobRunRow).order_by(JobRunRow.started_at.desc(), JobRunRow.id.desc()).limit(limit)
            if name:
                query = query.where(JobRunRow.name == name)
            return list(session.scalars(query))
