"""Alembic environment.

The bridge runs it from :meth:`bridge.adapters.store.Store.migrate` with an open
connection. A developer writing the next revision runs it through `alembic` at the
repository's top (`alembic.ini`): then it connects to `DATABASE_URL`, or to a
throwaway SQLite file when that is unset (enough for `alembic revision`).
"""

from __future__ import annotations

import os
import tempfile

from alembic import context
from sqlalchemy import Connection, create_engine

from bridge.adapters.store.database import normalise_url
from bridge.adapters.store.models import Base


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.gettempdir()}/fablab-bridge-alembic.sqlite3"
    engine = create_engine(normalise_url(url))
    with engine.connect() as own:
        _run(own)
    engine.dispose()
