"""Logging set up from LOG_FORMAT / LOG_LEVEL: text or one JSON object per line, and no secret
reaches the output, whether in a message, its arguments, an exception or a traceback."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from concurrent.futures import Future

import pytest
from pydantic import ValidationError

from bot.errors import ProviderError
from bot.logs import ScrubSecrets, configure_logging
from bot.settings import Settings
from handlers.slack_commands import _report

BOT_TOKEN = "xoxb-1111-2222-Bot0Token0Value"
SIGNING_SECRET = "8f2e0c5b9d1a4e7f-signing"
JIRA_TOKEN = "jira-api-token-4242"
GITLAB_TOKEN = "glpat-Gitlab0Token0Value"
DB_PASSWORD = "db-pa55word"
HOOK_SECRET = "staging-hook-hmac-key"
SECRETS = [BOT_TOKEN, SIGNING_SECRET, JIRA_TOKEN, GITLAB_TOKEN, DB_PASSWORD, HOOK_SECRET]
# credential-shaped text that is no setting of ours
OTHER_SLACK_TOKEN = "xoxp-9999-8888-Someone0Elses"
APP_TOKEN = "xapp-1-A0123-4567-AppLevelToken"
BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
BASIC = "YWxpY2U6czNjcjN0LXBhc3N3b3Jk"
SIGNATURE = "5d41402abc4b2a76b9719d911017c592" * 2
URL_PASSWORD = "pr0xy-secret"
PATTERNED = [OTHER_SLACK_TOKEN, APP_TOKEN, BEARER, BASIC, SIGNATURE, URL_PASSWORD]


@pytest.fixture
def settings() -> Settings:
    return Settings(
        database_url=f"postgresql+psycopg://finops:{DB_PASSWORD}@db.internal:5432/finops",
        slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
        jira_url="https://jira.example.com", jira_user="bot", jira_api_token=JIRA_TOKEN,
        gitlab_url="https://gitlab.example.com", gitlab_token=GITLAB_TOKEN,
    )


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _log_everything(settings: Settings) -> None:
    log = logging.getLogger("finops.test")
    log.info("starting with bot token %s and signing secret %r", BOT_TOKEN, SIGNING_SECRET)
    log.warning("settings: %s", {"jira_api_token": JIRA_TOKEN,
                                 "database_url": settings.database_url})
    log.info("called Slack with headers {'Authorization': 'Bearer %s'}", BEARER)
    log.info("proxy Authorization: Basic %s", BASIC)
    log.info("user token %s, app token %s", OTHER_SLACK_TOKEN, APP_TOKEN)
    log.info("X-Hub-Signature: sha256=%s", SIGNATURE)
    log.info("fetching https://ci:%s@proxy.example.com:8080/job", URL_PASSWORD)
    try:
        try:
            raise OSError(f"could not connect to {settings.database_url}")
        except OSError as exc:
            raise ProviderError(f"GitLab refused token {GITLAB_TOKEN} "
                                f"(hook key {HOOK_SECRET})") from exc
    except ProviderError:
        log.exception("ingest failed")
    # a request handler's error report: the traceback of the failed answer
    done: Future[None] = Future()
    try:
        raise RuntimeError(f"respond failed: invalid_auth for {BOT_TOKEN}")
    except RuntimeError as exc:
        done.set_exception(exc)
    _report(done)
    log.info("stack at start", stack_info=True)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_secret_reaches_the_output(settings: Settings, fmt: str,
                                      restore_root: None) -> None:
    out = io.StringIO()
    configure_logging(settings.model_copy(update={"log_format": fmt}), stream=out,
                      extra_secrets=[HOOK_SECRET])
    _log_everything(settings)
    written = out.getvalue()
    for secret in SECRETS + PATTERNED:
        assert secret not in written, secret
    # what was there is still readable
    assert "bot token ***" in written and "xoxp-***" in written and "xapp-***" in written
    assert "postgresql+psycopg://finops:***@db.internal:5432/finops" in written
    assert "sha256=***" in written and "https://ci:***@proxy.example.com:8080/job" in written
    assert "Traceback (most recent call last)" in written
    assert "answering a command failed" in written and "RuntimeError: respond failed" in written


def test_json_lines_carry_time_level_logger_message_and_the_traceback(
    settings: Settings, restore_root: None
) -> None:
    out = io.StringIO()
    configure_logging(settings.model_copy(update={"log_format": "json"}), stream=out)
    _log_everything(settings)
    entries = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(entries) == 10  # one object per line, tracebacks included
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert entries[0]["time"].endswith("+00:00") and entries[0]["level"] == "INFO"
    assert entries[0]["logger"] == "finops.test"
    assert entries[0]["message"] == "starting with bot token *** and signing secret '***'"
    failed = next(e for e in entries if e["message"] == "ingest failed")
    assert failed["level"] == "ERROR" and "exc_info" in failed
    assert "The above exception was the direct cause" in failed["exc_info"]
    assert "ProviderError: GitLab refused token ***" in failed["exc_info"]
    assert "could not connect to postgresql+psycopg://finops:***@db" in failed["exc_info"]
    report = next(e for e in entries if e["logger"] == "handlers.slack_commands")
    assert report["message"] == "answering a command failed"
    assert "RuntimeError: respond failed: invalid_auth for ***" in report["exc_info"]
    assert "exc_info" not in entries[0]
    assert "stack_info" in entries[-1]


def test_text_lines_and_the_level(settings: Settings, restore_root: None) -> None:
    out = io.StringIO()
    configure_logging(settings.model_copy(update={"log_level": "WARNING"}), stream=out)
    logging.getLogger("finops.test").info("not shown")
    logging.getLogger("finops.test").warning("shown with %s", JIRA_TOKEN)
    [line] = out.getvalue().splitlines()
    assert line.endswith(" WARNING finops.test shown with ***")
    # configuring again replaces the handler rather than adding a second one
    configure_logging(settings, stream=out)
    logging.getLogger("finops.test").warning("once")
    assert out.getvalue().count("once") == 1


def test_settings_read_log_format_and_level_in_any_case(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = Settings()
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ValidationError, match="log_format"):
        Settings()
    monkeypatch.delenv("LOG_FORMAT")
    monkeypatch.delenv("LOG_LEVEL")
    assert (Settings().log_format, Settings().log_level) == ("text", "INFO")


def test_secret_values_are_those_of_the_secret_settings_that_are_set(
    settings: Settings
) -> None:
    assert sorted(settings.secret_values()) == sorted(
        [BOT_TOKEN, SIGNING_SECRET, JIRA_TOKEN, GITLAB_TOKEN])


def test_a_secret_inside_a_longer_one_is_masked_whole() -> None:
    scrub = ScrubSecrets(["abc123", "abc123-and-more"]).scrub
    assert scrub("x abc123-and-more y abc123 z") == "x *** y *** z"


def test_a_secret_is_masked_where_it_stands_alone_not_inside_a_word() -> None:
    # a short webhook secret (`gs`, `deploy`) had turned "bookings" into "bookin***"
    scrub = ScrubSecrets(["gs", "deploy"]).scrub
    assert scrub("job bookings: remind holders, run pending settings") == \
        "job bookings: remind holders, run pending settings"
    assert scrub("token=gs&x, 'deploy', ci:deploy@host, gs") == \
        "token=***&x, '***', ci:***@host, ***"
    assert scrub("redeploy deploys deploy_name") == "redeploy deploys deploy_name"
