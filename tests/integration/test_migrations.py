"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)
from handlers.scheduler import JOBSTORE_TABLE


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    # the scheduler's job store table is APScheduler's, created by our migration 0003
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name == JOBSTORE_TABLE)
            and not (d[0] == "remove_index" and d[1].table.name == JOBSTORE_TABLE)]
    assert diff == []
