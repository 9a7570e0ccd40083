"""One database per module, loaded with the demo config's data by the real ``ingest`` job."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, func, select
from sqlmodel import Session, SQLModel

from app import build_fleet
from bot.config import load_config
from bot.jobs import run_job
from bot.services import Services
from bot.settings import Settings
from providers.chat import ConsoleTransport
from tests.conftest import empty

SECRETS = {"github": "gh-secret", "gitlab": "gl-token", "jenkins": "jk-token", "jira": "jira-key",
           "slack": "slack-signing-secret"}


class DemoServices(Services):
    """Services with a short repr: hypothesis prints the arguments of a failing example."""

    def __repr__(self) -> str:
        return f"DemoServices({self.engine.url.drivername})"


def row_counts(session: Session) -> dict[str, int]:
    """Rows per table, as this session sees them (its own pending writes included)."""
    session.flush()
    return {table.name: session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in SQLModel.metadata.sorted_tables}


@pytest.fixture(scope="module")
def demo(engine: Engine) -> Iterator[Services]:
    """Services on the demo data, ingested once for the module at a fixed moment: today 10:00
    UTC (the demo costs end yesterday)."""
    empty(engine)
    now = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        github_webhook_secret=SecretStr(SECRETS["github"]),
        gitlab_webhook_token=SecretStr(SECRETS["gitlab"]),
        jenkins_webhook_token=SecretStr(SECRETS["jenkins"]),
        jira_webhook_secret=SecretStr(SECRETS["jira"]),
    )
    config = load_config(None)
    services = DemoServices(settings=settings, config=config, engine=engine,
                            chat=ConsoleTransport(io.StringIO()), clock=lambda: now,
                            fleet=build_fleet(config))
    run_job(services, "ingest")
    yield services
    empty(engine)
