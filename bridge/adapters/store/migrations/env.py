"""Alembic environment: always run from :meth:`bridge.adapters.store.Store.migrate` with a connection."""

from __future__ import annotations

from alembic import context

from bridge.adapters.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
