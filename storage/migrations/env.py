"""Alembic environment: the engine comes from storage.db (never from alembic.ini)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

# importing the table modules registers their tables on SQLModel.metadata
import storage.models  # noqa: F401
import storage.models_envs  # noqa: F401

target_metadata = SQLModel.metadata
engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
