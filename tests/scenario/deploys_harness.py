"""What the deploy scenarios share: a sender that posts webhooks as GitHub, GitLab and Jenkins
do, the app configured with their secrets and the fake GitHub and GitLab behind it, and helpers
that read what was stored and sent.

Bind the fixtures in a test module (pytest finds fixtures by module globals).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlmodel import Session, col

from app import build_asgi
from bot import envs
from bot.config_sections import DeploysConfig
from bot.services import Services
from providers.scm import GitHubClient, GitLabClient
from storage.db import session_scope
from storage.models import ProcessedEvent
from storage.models_envs import Deploy
from tests.fakes.github import FakeGitHub
from tests.fakes.gitlab import FakeGitLab
from tests.fakes.slack import FakeSlack
from tests.scenario.harness import github_headers, serve, wait

DATA = Path(__file__).parents[1] / "data" / "webhooks"
GITHUB_SECRET, GITLAB_TOKEN, JENKINS_TOKEN = "gh-hook-secret", "gl-hook-token", "jk-hook-token"
GITHUB_SHA = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
GITLAB_SHA = "279484c09fbe69ededfced8c1bb6e6d24616b468"
JENKINS_SHA = "9b1f6c2d0e8a4f3b7c5d1e2f3a4b5c6d7e8f9a0b"
CHANNEL = "#environments"


def webhook(name: str) -> dict[str, Any]:
    """A recorded webhook body from tests/data/webhooks, e.g. ``github/deployment.json``."""
    payload: dict[str, Any] = json.loads((DATA / name).read_text())
    return payload


class Sender:
    """Posts webhooks to the running app the way each CI system does."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(timeout=10)

    def github(self, payload: dict[str, Any] | bytes, *, event: str, delivery: str,
               secret: str = GITHUB_SECRET) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = github_headers(body, secret=secret, event=event, delivery=delivery)
        return self.http.post(f"{self.base_url}/webhooks/github", content=body, headers=headers)

    def gitlab(self, payload: dict[str, Any] | bytes, *, uuid: str,
               token: str = GITLAB_TOKEN) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"X-Gitlab-Event": "Deployment Hook", "X-Gitlab-Token": token,
                   "X-Gitlab-Event-UUID": uuid, "Idempotency-Key": uuid,
                   "Content-Type": "application/json"}
        return self.http.post(f"{self.base_url}/webhooks/gitlab", content=body, headers=headers)

    def jenkins(self, payload: dict[str, Any] | bytes, *,
                authorization: str = f"Bearer {JENKINS_TOKEN}") -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Authorization": authorization, "Content-Type": "application/json"}
        return self.http.post(f"{self.base_url}/webhooks/jenkins", content=body,
                              headers=headers)


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_commit("Codertocat/Hello-World", GITHUB_SHA,
                        "Deploy the new greeting\n\nLonger explanation.", pulls=(7,))
        yield fake
        fake.assert_clean()


@pytest.fixture
def fake_gitlab() -> Iterator[FakeGitLab]:
    with FakeGitLab() as fake:
        yield fake
        fake.assert_clean()


@pytest.fixture
def configured(services: Services, fake_github: FakeGitHub, fake_gitlab: FakeGitLab) -> Services:
    """Webhook secrets, GitLab's `staging` is staging-2, a deploy workflow, CI logins."""
    config = services.config
    environments = [e.model_copy(update={"deploy_names": ["staging"]}) if e.name == "staging-2"
                    else e for e in config.environments]
    deploys = DeploysConfig(users={"Codertocat": "carol@example.com"}, pr_comments=True,
                            github_workflows={"test.yml": "qa"},
                            github_api_url=fake_github.api_url)
    services.config = config.model_copy(update={"environments": environments,
                                                "deploys": deploys})
    services.settings = services.settings.model_copy(update={
        "github_webhook_secret": SecretStr(GITHUB_SECRET),
        "gitlab_webhook_token": SecretStr(GITLAB_TOKEN),
        "jenkins_webhook_token": SecretStr(JENKINS_TOKEN)})
    services.scm = {
        "github": GitHubClient(fake_github.token, base_url=fake_github.api_url, retry=False,
                               pause=0),
        "gitlab": GitLabClient(fake_gitlab.url, fake_gitlab.token, retry=False)}
    return services


@pytest.fixture
def send(configured: Services) -> Iterator[Sender]:
    with serve(build_asgi(configured)) as base_url:
        sender = Sender(base_url)
        yield sender
        sender.http.close()
    settle(configured)


def settle(services: Services) -> None:
    """Wait until no deploy has effects pending (the answers' background tasks are done)."""
    def done() -> bool:
        with Session(services.engine) as session:
            return not session.scalars(select(Deploy).where(
                col(Deploy.effects_pending).is_(True))).first()
    wait(done)


def stored_deploys(services: Services) -> list[Deploy]:
    """Every stored deploy, oldest first."""
    with Session(services.engine) as session:
        return list(session.scalars(select(Deploy).order_by(col(Deploy.id))))


def counts(services: Services) -> tuple[int, int]:
    """(stored deploys, processed webhook deliveries)."""
    with Session(services.engine) as session:
        return (session.scalar(select(func.count()).select_from(Deploy)) or 0,
                session.scalar(select(func.count()).select_from(ProcessedEvent)) or 0)


def book(services: Services, env: str, email: str, user_id: str) -> None:
    """Book ``env`` for a day, linked to OPS-7, as ``email`` from Slack."""
    with session_scope(services.engine) as session:
        outcome = envs.book(session, config=services.config,
                            env=envs.environment(services.config, env),
                            until=services.now() + timedelta(days=1), ticket="OPS-7",
                            actor=envs.Actor(email=email, user_id=user_id, origin="slack"),
                            now=services.now())
    assert outcome.ok


def texts(fake: FakeSlack, channel: str, needle: str) -> list[str]:
    """The texts of the messages sent to ``channel`` that contain ``needle``."""
    return [m.text for m in fake.messages(channel) if needle in m.text]
