"""A request that fails after its ack is not silent: the user is told, and nothing changes."""

from __future__ import annotations

import time

from sqlalchemy import Engine, select
from sqlmodel import Session

from bot.services import Services
from storage.models import Anomaly, AuditLog
from tests.fakes.slack import FakeSlack
from tests.scenario.harness import SlackClientSim, failing


def _wait_replies(fake: FakeSlack, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(fake.replies) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(fake.replies) >= count, "no reply reached the response_url"


def _audit_rows(engine: Engine) -> int:
    with Session(engine) as session:
        return len(session.scalars(select(AuditLog.id)).all())


def test_a_command_whose_database_drops_after_the_ack_says_so(
        slack: SlackClientSim, fake_slack: FakeSlack, services: Services) -> None:
    audit = _audit_rows(services.engine)
    with failing(services.engine, lambda sql: "cost_scope_daily" in sql) as failed:
        response = slack.command("costs team data 30d", user_id="U0BOB",
                                 response_url=fake_slack.response_url())
        assert response.status_code == 200 and response.text == ""  # acked in time
        _wait_replies(fake_slack, 1)
    assert failed
    reply = fake_slack.replies[0]
    assert reply.response_type == "ephemeral"
    assert "the database is not answering" in reply.text and "try again" in reply.text
    assert _audit_rows(services.engine) == audit
    # once the database answers again, the same command is answered as usual
    slack.command("costs team data 30d", user_id="U0BOB", response_url=fake_slack.response_url())
    _wait_replies(fake_slack, 2)
    assert "Costs: team data" in str(fake_slack.replies[1].payload["blocks"])


def test_a_button_whose_write_fails_says_so_and_changes_nothing(
        slack: SlackClientSim, fake_slack: FakeSlack, services: Services) -> None:
    with Session(services.engine) as session:
        alert = session.scalars(select(Anomaly).where(Anomaly.series == "team:data")).one()
    before = alert.status
    with failing(services.engine, lambda sql: sql.startswith("UPDATE anomaly")) as failed:
        assert slack.action("anomaly_ack", str(alert.id), user_id="U0BOB",
                            response_url=fake_slack.response_url()).status_code == 200
        _wait_replies(fake_slack, 1)
    assert failed
    reply = fake_slack.replies[0]
    assert not reply.replace_original  # the alert and its buttons stay for the next click
    assert "the database is not answering" in reply.text
    with Session(services.engine) as session:
        assert session.get(Anomaly, alert.id).status == before  # type: ignore[union-attr]
    slack.action("anomaly_ack", str(alert.id), user_id="U0BOB",
                 response_url=fake_slack.response_url())
    _wait_replies(fake_slack, 2)
    assert "acknowledged by bob@example.com" in str(fake_slack.replies[1].payload)


def test_a_failure_that_is_not_the_database_is_reported_without_details(
        slack: SlackClientSim, fake_slack: FakeSlack, services: Services) -> None:
    with failing(services.engine, lambda sql: "cost_scope_daily" in sql,
                 lambda sql: RuntimeError("secret detail of " + sql[:20])):
        slack.command("costs team data 30d", user_id="U0BOB",
                      response_url=fake_slack.response_url())
        _wait_replies(fake_slack, 1)
    text = fake_slack.replies[0].text
    assert "something went wrong on my side" in text and "secret detail" not in text
