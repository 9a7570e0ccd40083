"""Jira: the real ``jira`` client against the fake Jira; its webhooks into the real app.

A booking linked to a ticket comments on it; moving the ticket to Done (through the real
client, as a person in Jira would) makes the fake send a signed webhook to ``/webhooks/jira``,
which releases the booking.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from jira import JIRA
from pydantic import SecretStr
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from app import build_asgi
from bot import envs
from bot.config import parse_config
from bot.envs_effects import run_effects
from bot.errors import ProviderAuthError, ProviderError, ProviderUnavailable, ResourceGone
from bot.services import Services
from bot.settings import Settings
from providers import jira as jira_provider
from providers.chat import ConsoleTransport
from providers.jira import JiraClient, TicketClient
from storage import bookings
from storage.db import session_scope
from storage.models import AuditLog, ProcessedEvent
from storage.models_envs import Booking
from tests.fakes import jira as jira_fakes
from tests.fakes.http import Reply
from tests.fakes.jira import FakeJira
from tests.scenario.harness import serve, wait

fake_jira = jira_fakes.fake_jira

SECRET = "jira-webhook-secret"
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
CONFIG = parse_config("""
teams: {platform: {slack_channel: "#platform", manager: alice@example.com}}
environments:
  - {name: staging, team: platform, slack_channel: "#envs"}
  - {name: qa, team: platform, jira_release_statuses: [Deployed]}
""", source="test.yaml")


@pytest.fixture
def client(fake_jira: FakeJira) -> Iterator[JiraClient]:
    jira = JiraClient(fake_jira.url, fake_jira.user, fake_jira.token, max_retries=0)
    yield jira
    jira.close()


@pytest.fixture
def services(db: Engine, client: JiraClient) -> Services:
    settings = Settings(database_url=db.url.render_as_string(hide_password=False),
                        jira_webhook_secret=SecretStr(SECRET))
    return Services(settings=settings, config=CONFIG, engine=db,
                    chat=ConsoleTransport(io.StringIO()), clock=lambda: NOW, jira=client)


@pytest.fixture
def app_url(services: Services, fake_jira: FakeJira) -> Iterator[str]:
    with serve(build_asgi(services)) as url:
        fake_jira.subscribe(url + "/webhooks/jira", SECRET)
        yield url


def _book(services: Services, env: str, ticket: str | None) -> str:
    with session_scope(services.engine) as session:
        outcome = envs.book(session, config=CONFIG, env=CONFIG.environment(env),  # type: ignore[arg-type]
                            until=NOW + timedelta(days=2), ticket=ticket,
                            actor=envs.Actor("bob@example.com", "U0BOB", "slack"), now=NOW)
        assert outcome.ok
        state = bookings.state(session, env=env)
        assert state is not None and state.booking_id
        return state.booking_id


def _booking(services: Services, booking_id: str) -> Booking:
    with Session(services.engine) as session:
        found = session.get(Booking, booking_id)
        assert found is not None
        return found


def _user_client(fake: FakeJira) -> JIRA:
    """A person working in Jira, with the real client."""
    return JIRA(server=fake.url, basic_auth=(fake.user, fake.token), max_retries=0)


def test_the_client_comments_reads_and_transitions(fake_jira: FakeJira,
                                                   client: JiraClient) -> None:
    fake_jira.add_issue("OPS-1")
    assert isinstance(client, TicketClient)
    assert fake_jira.calls == []  # connects on first use, not at construction
    comment_id = client.add_comment("OPS-1", "staging booked")
    assert fake_jira.comments("OPS-1") == ["staging booked"] and comment_id
    assert client.status("OPS-1") == ("In Progress", "indeterminate")
    client.transition("OPS-1", "Done")
    assert client.status("OPS-1") == ("Done", "done")
    assert len(fake_jira.calls_to("GET", "/serverInfo")) == 1
    posted = fake_jira.calls_to("POST", "/transitions")[0].json()
    assert posted["transition"] == {"id": "41"}


def test_client_errors_are_translated_without_the_token(fake_jira: FakeJira) -> None:
    bad = JiraClient(fake_jira.url, fake_jira.user, "wrong-token", max_retries=0)
    try:
        with pytest.raises(ProviderAuthError, match="HTTP 401"):
            bad.add_comment("OPS-1", "x")
    finally:
        bad.close()
    good = JiraClient(fake_jira.url, fake_jira.user, fake_jira.token, max_retries=0)
    try:
        with pytest.raises(ResourceGone, match="Issue does not exist") as info:
            good.add_comment("OPS-404", "x")
        assert fake_jira.token not in str(info.value)
        with pytest.raises(ResourceGone, match="Jira issue OPS-404 failed: HTTP 404"):
            good.status("OPS-404")
        fake_jira.add_issue("OPS-2", status="Done")
        with pytest.raises(ProviderError, match="Invalid transition name"):
            good.transition("OPS-2", "Done")  # not offered from Done
        with pytest.raises(ProviderError, match="HTTP 400 Transition id '41' is not valid"):
            good.transition("OPS-2", "41")  # refused by Jira itself
    finally:
        good.close()
    down = JiraClient("http://127.0.0.1:9", "u", "t", max_retries=0, timeout=2)
    with pytest.raises(ProviderError, match="ConnectionError"):
        down.status("OPS-1")


def test_a_call_jira_does_not_take_is_tried_again_by_us_and_a_comment_is_never_doubled(
        fake_jira: FakeJira) -> None:
    fake_jira.add_issue("OPS-3")
    client = JiraClient(fake_jira.url, fake_jira.user, fake_jira.token, max_retries=1)
    try:
        fake_jira.fail_next(Reply(503, "Service Unavailable"), method="GET",
                            path_contains="/issue/OPS-3")
        assert client.status("OPS-3") == ("In Progress", "indeterminate")  # the retry's answer
        assert len(fake_jira.calls_to("GET", "/issue/OPS-3")) == 2
        fake_jira.fail_next(Reply(429, "slow down", {"Retry-After": "30"}), method="POST")
        client.add_comment("OPS-3", "booked")  # refused unprocessed: safe to send again
        assert fake_jira.comments("OPS-3") == ["booked"]
        # Jira busy for good: one retry, ours, and none of the client's own (which waited
        # 20 s and more between tries, holding the booking effect and its thread)
        fake_jira.fail_next(Reply(503, "Service Unavailable"), times=None, method="GET")
        with pytest.raises(ProviderError, match="HTTP 503"):
            client.status("OPS-3")
        assert len(fake_jira.calls_to("GET", "/issue/OPS-3")) == 4
    finally:
        client.close()


def test_a_call_jira_surely_did_not_take_is_told_apart_from_one_it_may_have(
        fake_jira: FakeJira, monkeypatch: pytest.MonkeyPatch) -> None:
    down = JiraClient("http://127.0.0.1:9", "u", "t", max_retries=2, timeout=2)
    pauses: list[float] = []
    monkeypatch.setattr(jira_provider.time, "sleep", pauses.append)
    with pytest.raises(ProviderUnavailable, match="ConnectionError"):
        down.add_comment("OPS-1", "booked")  # no connection: nothing was sent...
    assert pauses == [0.5, 1.0]  # ...so it was safe to try again, twice
    monkeypatch.undo()
    fake_jira.add_issue("OPS-5")
    slow = JiraClient(fake_jira.url, fake_jira.user, fake_jira.token, max_retries=2,
                      timeout=0.3)
    try:
        fake_jira.fail_next(Reply(503, "Service Unavailable"), times=None, method="POST")
        with pytest.raises(ProviderUnavailable, match="HTTP 503"):
            slow.add_comment("OPS-5", "booked")
        assert len(fake_jira.calls_to("POST", "/comment")) == 3  # refused each time: retried
        fake_jira.clear_failures()
        # Jira answers too late, but takes the comment: not retried, and not "unavailable",
        # so nothing posts it again
        fake_jira.slow_next(1.0, method="POST")
        with pytest.raises(ProviderError, match="ReadTimeout") as info:
            slow.add_comment("OPS-5", "extended")
        assert not isinstance(info.value, ProviderUnavailable)
        wait(lambda: fake_jira.comments("OPS-5") == ["extended"])
        assert len(fake_jira.calls_to("POST", "/comment")) == 4
    finally:
        slow.close()


def test_a_jira_transition_releases_the_linked_booking(
        services: Services, fake_jira: FakeJira, app_url: str) -> None:
    fake_jira.add_issue("OPS-12")
    booking_id = _book(services, "staging", "OPS-12")
    run_effects(services)
    assert len(fake_jira.comments("OPS-12")) == 1
    assert "staging booked by bob@example.com" in fake_jira.comments("OPS-12")[0]

    user = _user_client(fake_jira)
    try:
        user.transition_issue("OPS-12", "Review")  # not a release status: nothing happens
        user.transition_issue("OPS-12", "Done")
    finally:
        user.close()
    deliveries = fake_jira.wait_for_deliveries(2)
    assert [d.status for d in deliveries] == [200, 200]
    released = _booking(services, booking_id)
    assert released.end_reason == "jira" and released.ended_by == "jira:dana@example.com"
    assert released.ended_at == NOW
    with Session(services.engine) as session:
        assert bookings.state(session, env="staging").booking_id is None  # type: ignore[union-attr]
    # the release comment follows (effects run after the webhook's answer)
    run_effects(services)
    assert any("staging released (jira" in c for c in fake_jira.comments("OPS-12"))
    chat = services.chat
    assert isinstance(chat, ConsoleTransport)
    assert any(m.channel == "#envs" and "is free" in m.text for m in chat.sent)


def test_deleting_the_ticket_releases_and_configured_statuses_apply(
        services: Services, fake_jira: FakeJira, app_url: str) -> None:
    fake_jira.add_issue("OPS-7")
    fake_jira.add_issue("OPS-8")
    staging = _book(services, "staging", "OPS-7")
    qa = _book(services, "qa", "OPS-8")
    user = _user_client(fake_jira)
    try:
        user.transition_issue("OPS-8", "Done")  # qa only releases on "Deployed"
        user.issue("OPS-7").delete()
    finally:
        user.close()
    fake_jira.wait_for_deliveries(2)
    assert _booking(services, staging).end_reason == "jira"
    assert _booking(services, qa).ended_at is None


def _post(url: str, body: bytes, *, secret: str | None = SECRET,
          identifier: str | None = "wh-1", signature: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Hub-Signature"] = signature or (
            "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest())
    if identifier is not None:
        headers["X-Atlassian-Webhook-Identifier"] = identifier
    return httpx.post(url + "/webhooks/jira", content=body, headers=headers, timeout=10)


def _done_event(key: str) -> bytes:
    return json.dumps({
        "webhookEvent": "jira:issue_updated", "user": {"displayName": "Dana"},
        "issue": {"key": key, "fields": {"status": {"name": "Closed",
                                                    "statusCategory": {"key": "done"}}}},
        "changelog": {"items": [{"field": "status", "fromString": "Open",
                                 "toString": "Closed"}]},
    }).encode()


def test_bad_webhooks_are_refused_and_change_nothing(services: Services, app_url: str) -> None:
    booking_id = _book(services, "staging", "OPS-3")
    body = _done_event("OPS-3")
    assert _post(app_url, body, secret=None).status_code == 401  # unsigned
    assert _post(app_url, body, secret="not-the-secret").status_code == 401
    assert _post(app_url, body, signature="sha256=zz").status_code == 401
    assert _post(app_url, body, signature="sha1=" + "0" * 40).status_code == 401
    for malformed in (b"{not json", b"[1, 2]", b'{"issue": {"key": "OPS-3"}}', b"\xff\xfe"):
        assert _post(app_url, malformed).status_code == 400, malformed
    assert _post(app_url, b"x" * 1_000_001).status_code == 413
    assert _booking(services, booking_id).ended_at is None
    with Session(services.engine) as session:
        seen = session.execute(select(func.count()).select_from(ProcessedEvent)).scalar()
    assert seen == 0


def test_a_retried_delivery_is_handled_once(services: Services, app_url: str) -> None:
    first = _book(services, "staging", "OPS-4")
    body = _done_event("OPS-4")
    answer = _post(app_url, body, identifier="wh-42")
    assert answer.status_code == 200 and answer.json()["released"] == ["staging"]
    # booked again for the same ticket; Jira retries the same delivery: nothing happens
    second = _book(services, "staging", "OPS-4")
    retry = _post(app_url, body, identifier="wh-42")
    assert retry.status_code == 200 and retry.json() == {"status": "duplicate"}
    assert _booking(services, first).ended_at is not None
    assert _booking(services, second).ended_at is None
    # without an identifier the body's hash identifies the delivery
    assert _post(app_url, body, identifier=None).json()["released"] == ["staging"]
    assert _post(app_url, body, identifier=None).json() == {"status": "duplicate"}
    with Session(services.engine) as session:
        audit = session.scalars(select(AuditLog).where(
            col(AuditLog.action) == "booking.release")).all()
    assert [(a.actor, a.origin) for a in audit] == [("jira:Dana", "jira")] * 2


def test_webhooks_without_a_configured_secret_are_refused(db: Engine) -> None:
    services = Services(settings=Settings(database_url="sqlite://"), config=CONFIG, engine=db,
                        chat=ConsoleTransport(io.StringIO()), clock=lambda: NOW)
    with serve(build_asgi(services)) as url:
        assert _post(url, _done_event("OPS-1"), secret="").status_code == 401
        assert _post(url, _done_event("OPS-1")).status_code == 401
