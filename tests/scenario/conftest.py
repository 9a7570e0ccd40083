"""Scenario fixtures: the real app on loopback, a fake Slack, the demo data in a real database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from app import build_asgi, build_fleet
from bot.config import load_config
from bot.jobs import run_job
from bot.services import Services
from bot.settings import Settings
from providers.slack import SlackTransport
from tests.fakes.slack import FakeSlack
from tests.scenario.harness import SIGNING_SECRET, Clock, SlackClientSim, serve

USERS = {"alice@example.com": "U0ALICE", "bob@example.com": "U0BOB",
         "carol@example.com": "U0CAROL", "dave@example.com": "U0DAVE"}


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack(users=dict(USERS)) as fake:
        yield fake


@pytest.fixture
def now() -> datetime:
    # the demo data ends yesterday (UTC): scenarios run at today's 10:00 UTC
    return datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)


@pytest.fixture
def services(db: Engine, fake_slack: FakeSlack, now: datetime) -> Services:
    settings = Settings(
        database_url=db.url.render_as_string(hide_password=False),
        slack_bot_token=fake_slack.token, slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.base_url,
    )
    chat = SlackTransport(fake_slack.token, base_url=fake_slack.base_url,
                          server_error_backoff=0)
    config = load_config(None)
    svc = Services(settings=settings, config=config, engine=db, chat=chat,
                   clock=lambda: now, fleet=build_fleet(config))
    run_job(svc, "ingest")
    return svc


@pytest.fixture
def slack(services: Services) -> Iterator[SlackClientSim]:
    with serve(build_asgi(services)) as base_url:
        sim = SlackClientSim(base_url)
        yield sim
        sim.close()


@pytest.fixture
def clock(services: Services, now: datetime) -> Clock:
    """The services' clock, for the test to move."""
    services.clock = clock = Clock(now)
    return clock
