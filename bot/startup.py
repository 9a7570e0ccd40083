"""Start-up checks shared by ``run`` and the one-shot CLI commands."""

from __future__ import annotations

import logging
from datetime import timedelta

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from bot.errors import ConfigError, ProviderError
from bot.services import Services
from storage import costs
from storage.db import alembic_config, is_sqlite, session_scope, upgrade

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
    """Check the schema; with the demo config, load the demo data unless it already ends yesterday.

    The demo is generated relative to today, so a database loaded on an earlier day is refreshed
    (re-ingesting replaces the period; manual owner changes persist). A current one is left alone,
    so one-shot CLI commands do not re-ingest and re-scan every time. Slack being unreachable
    does not stop the start: the demo's alerts stay unsent until a later scan.
    """
    check_schema(services)
    if not services.settings.uses_demo:
        return
    with session_scope(services.engine) as session:
        stored = costs.date_range(session)
    if stored is None or stored[1] < services.now().date() - timedelta(days=1):
        from bot.jobs import run_job

        try:
            log.info("loading the demo: %s", run_job(services, "ingest"))
        except ProviderError as exc:  # Slack did not take the alerts: its costs are stored
            log.warning("demo loaded, but its scan could not alert (%s); the next scan sends "
                        "the alerts still unsent", exc)
