"""Start-up checks shared by ``run`` and the one-shot CLI commands."""

from __future__ import annotations

import logging

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from bot.errors import ConfigError
from bot.services import Services
from storage.db import alembic_config, is_sqlite, upgrade

log = logging.getLogger(__name__)


def check_schema(services: Services) -> None:
    """Upgrade SQLite by itself; on other databases require ``finops-bot db upgrade``."""
    engine = services.engine
    if is_sqlite(engine):
        upgrade(engine)
        return
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        raise ConfigError(f"the database schema is at {current or 'nothing'}, the code needs "
                          f"{head}: run `finops-bot db upgrade`")


def prepare(services: Services) -> None:
    """Check the schema; with the demo config, (re)load the demo data, which ends yesterday.

    Re-ingesting replaces the period, so this is idempotent; manual owner changes persist.
    """
    check_schema(services)
    if services.settings.uses_demo:
        from bot.jobs import run_job

        log.info("loading the demo: %s", run_job(services, "ingest"))
