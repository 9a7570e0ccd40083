"""Settings from the environment: empty variables, Slack configured only in part, and webhook
secrets short enough to guess."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine

from bot.settings import DEFAULT_DATABASE_URL, read_settings

SLACK = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")
HOOKS = ("JIRA_WEBHOOK_SECRET", "GITHUB_WEBHOOK_SECRET", "GITLAB_WEBHOOK_TOKEN",
         "JENKINS_WEBHOOK_TOKEN")


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*SLACK, *HOOKS, "PORT", "DATABASE_URL", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)


def test_an_empty_variable_is_an_unset_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # as a compose file writes `SLACK_BOT_TOKEN=` or `PORT: ${PORT}` for a variable not given
    for name in (*SLACK, "PORT", "DATABASE_URL", "LOG_LEVEL"):
        monkeypatch.setenv(name, "")
    settings = read_settings()
    assert settings.port == 3000 and settings.database_url == DEFAULT_DATABASE_URL
    assert settings.log_level == "INFO"
    assert not settings.slack_enabled and settings.slack_gap() is None


@pytest.mark.parametrize(
    ("given", "gap"),
    [
        ((), None),
        (("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"), None),
        (("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"), None),
        (("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"), None),
        (("SLACK_SIGNING_SECRET",), "/slack/events is not served"),
        (("SLACK_BOT_TOKEN",), "commands, buttons and App Home never reach the bot"),
    ],
)
def test_slack_configured_in_part_says_what_will_not_work(
        monkeypatch: pytest.MonkeyPatch, given: tuple[str, ...], gap: str | None) -> None:
    for name in given:
        monkeypatch.setenv(name, "x-" + name.lower())
    found = read_settings().slack_gap()
    assert found == gap if gap is None else gap in (found or "")


def test_the_app_warns_of_it_at_start(db: Engine, monkeypatch: pytest.MonkeyPatch,
                                      caplog: pytest.LogCaptureFixture) -> None:
    from app import build_asgi
    from bot.config import load_config
    from bot.services import Services
    from providers.chat import ConsoleTransport

    monkeypatch.setenv("SLACK_SIGNING_SECRET", "only-this")
    monkeypatch.setenv("JENKINS_WEBHOOK_TOKEN", "deploy")
    settings = read_settings()
    services = Services(settings=settings, config=load_config(None), engine=db,
                        chat=ConsoleTransport())
    with caplog.at_level(logging.WARNING, logger="finops-bot"):
        build_asgi(services)
    warned = [r.getMessage() for r in caplog.records if r.name == "finops-bot"]
    assert any("SLACK_BOT_TOKEN is not" in m for m in warned)
    assert any("JENKINS_WEBHOOK_TOKEN is 6 characters long" in m for m in warned)


def test_a_webhook_secret_short_enough_to_guess_is_warned_of(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert read_settings().weak_secrets() == []  # none set: nothing to guess
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "s3cret")
    monkeypatch.setenv("GITLAB_WEBHOOK_TOKEN", "0123456789abcdef")  # 16: long enough
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "short")  # Slack's own, always 32 characters
    assert read_settings().weak_secrets() == [
        "GITHUB_WEBHOOK_SECRET is 6 characters long, short enough to guess: use at least 16 "
        "random characters (`openssl rand -hex 32`)"]
    # an access hook's key signs what the bot sends: one easy to guess lets anyone forge a grant
    hooks = {"STAGING_HOOK_SECRET": "hunter2", "QA_HOOK_SECRET": "x" * 32}
    assert [w.split(" is ")[0] for w in read_settings().weak_secrets(hooks)] == [
        "GITHUB_WEBHOOK_SECRET", "STAGING_HOOK_SECRET"]
