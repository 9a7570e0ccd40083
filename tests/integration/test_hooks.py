"""Access hooks against a real HTTP receiver on loopback that checks the signature, and real
commands; then end to end: a booking grants, a release revokes, failures reach people."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from bot import envs
from bot.config import parse_config
from bot.envs_effects import run_effects
from bot.services import Services
from bot.settings import Settings
from providers.chat import ConsoleTransport
from providers.hooks import call_http, run_command, sign
from storage.db import session_scope
from storage.models import AuditLog
from tests.fakes.http import Call, FakeServer, Reply, json_reply

SECRET = "hook-secret"
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


class HookReceiver(FakeServer):
    """An access-management endpoint: verifies ``X-Finops-Signature`` and records each grant or
    revoke; ``statuses`` queues the answers of the next calls (default 200)."""

    def __init__(self, secret: str = SECRET, delay: float = 0.0) -> None:
        super().__init__()
        self.secret, self.delay = secret, delay
        self.statuses: list[int] = []
        self.accepted: list[dict[str, object]] = []

    def handle(self, call: Call) -> Reply:
        if call.method != "POST" or call.path != "/access":
            return self.not_found(call)
        if self.delay:
            time.sleep(self.delay)
        expected = "sha256=" + hmac.new(self.secret.encode(), call.body,
                                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, call.headers.get("x-finops-signature", "")):
            return json_reply({"error": "bad signature"}, 401)
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.accepted.append({"body": call.json(), "event": call.headers["x-finops-event"],
                                  "delivery": call.headers["x-finops-delivery"]})
        return json_reply({"status": status}, status)


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    with HookReceiver() as server:
        yield server
        server.assert_clean()


def test_a_signed_post_is_accepted(receiver: HookReceiver) -> None:
    payload = {"event": "acquire", "booking": {"id": "b1", "holder": "bob@example.com"}}
    result = call_http(receiver.url + "/access", payload, secret=SECRET, event="acquire",
                       delivery="7-0")
    assert result.ok and [a.status for a in result.attempts] == [200]
    assert receiver.accepted == [{"body": payload, "event": "acquire", "delivery": "7-0"}]
    body = receiver.calls[0].body
    assert receiver.calls[0].headers["x-finops-signature"] == sign(body, SECRET)


def test_server_errors_are_retried_with_backoff(receiver: HookReceiver) -> None:
    receiver.statuses = [503, 500]
    waits: list[float] = []
    result = call_http(receiver.url + "/access", {"event": "release"}, secret=SECRET,
                       event="release", delivery="8-0", retries=3, backoff=0.5,
                       sleep=waits.append)
    assert result.ok and [a.status for a in result.attempts] == [503, 500, 200]
    assert waits == [0.5, 1.0]
    deliveries = {c.headers["x-finops-delivery"] for c in receiver.calls}
    assert deliveries == {"8-0"}  # the same id on each retry: the receiver can dedupe
    assert result.audit()["attempts"][0]["error"].startswith("HTTP 503")


def test_a_wrong_secret_is_final_and_a_dead_endpoint_is_retried(receiver: HookReceiver) -> None:
    waits: list[float] = []
    refused = call_http(receiver.url + "/access", {}, secret="wrong", event="acquire",
                        delivery="9-0", retries=3, backoff=1, sleep=waits.append)
    assert not refused.ok and len(refused.attempts) == 1 and waits == []
    assert refused.attempts[0].status == 401 and "bad signature" in refused.attempts[0].error
    dead = call_http("http://127.0.0.1:9/access", {}, secret=SECRET, event="acquire",
                     delivery="9-1", retries=2, backoff=1, sleep=waits.append)
    assert not dead.ok and len(dead.attempts) == 3 and waits == [1, 2]
    assert "refused" in dead.attempts[-1].error.lower()
    assert dead.summary().endswith("(3 attempts)")


def test_a_slow_endpoint_times_out() -> None:
    with HookReceiver(delay=0.5) as slow:
        result = call_http(slow.url + "/access", {}, secret=SECRET, event="acquire",
                           delivery="1-0", timeout=0.1, retries=0)
    assert not result.ok and result.attempts[0].status is None
    assert "timed out" in result.attempts[0].error.lower()


def test_a_command_gets_the_booking_in_its_environment(tmp_path: Path) -> None:
    out = tmp_path / "seen.json"
    script = ("import json, os, sys; json.dump({k: v for k, v in os.environ.items() "
              "if k.startswith('FINOPS_')}, open(sys.argv[1], 'w'))")
    result = run_command([sys.executable, "-c", script, str(out)],
                         {"FINOPS_ENV": "staging", "FINOPS_EVENT": "acquire"}, event="acquire")
    assert result.ok and json.loads(out.read_text()) == {"FINOPS_ENV": "staging",
                                                         "FINOPS_EVENT": "acquire"}
    waits: list[float] = []
    failing = run_command([sys.executable, "-c", "import sys; sys.exit('no such role')"], {},
                          event="release", retries=1, backoff=0.25, sleep=waits.append)
    assert not failing.ok and [a.status for a in failing.attempts] == [1, 1]
    assert waits == [0.25] and "no such role" in failing.attempts[0].error
    missing = run_command("/nonexistent/grant-access --env x", {}, event="acquire", retries=3,
                          sleep=waits.append)
    assert not missing.ok and len(missing.attempts) == 1  # retrying cannot help
    slow = run_command([sys.executable, "-c", "import time; time.sleep(5)"], {},
                       event="acquire", timeout=0.2, retries=0)
    assert not slow.ok and "timed out" in slow.attempts[0].error


def _services(db: Engine, url: str, command: list[str]) -> Services:
    config = parse_config(json.dumps({
        "teams": {"platform": {"slack_channel": "#platform", "manager": "alice@example.com"}},
        "environments": [{
            "name": "staging", "team": "platform", "slack_channel": "#envs",
            "hooks": [{"url": url, "secret_env": "STAGING_HOOK_SECRET", "retries": 1,
                       "backoff": 0},
                      {"command": command, "events": ["acquire", "extend", "release"],
                       "retries": 0}],
        }],
    }), source="test.yaml")
    return Services(settings=Settings(database_url="sqlite://"), config=config, engine=db,
                    chat=ConsoleTransport(io.StringIO()), clock=lambda: NOW,
                    hook_secrets={"STAGING_HOOK_SECRET": SECRET})


def _do(services: Services, what: str) -> None:
    env = services.config.environments[0]
    actor = envs.Actor("bob@example.com", None, "slack")
    with session_scope(services.engine) as session:
        if what == "book":
            envs.book(session, config=services.config, env=env, until=NOW + timedelta(days=1),
                      ticket=None, actor=actor, now=NOW)
        elif what == "extend":
            envs.extend(session, config=services.config, env=env, text="1d", actor=actor,
                        now=NOW)
        else:
            envs.release(session, config=services.config, env=env, actor=actor, now=NOW)


def test_a_booking_grants_and_its_release_revokes(db: Engine, receiver: HookReceiver,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "events.log"
    command = [sys.executable, "-c",
               "import os; open(os.environ['LOG'], 'a').write(os.environ['FINOPS_EVENT'] + ' ' "
               "+ os.environ['FINOPS_HOLDER'] + ' ' + os.environ['FINOPS_UNTIL'] + '\\n')"]
    services = _services(db, receiver.url + "/access", command)
    monkeypatch.setenv("LOG", str(log))  # the hook command inherits the bot's environment
    _do(services, "book")
    _do(services, "extend")
    _do(services, "release")
    assert run_effects(services) == 3
    assert run_effects(services) == 0  # nothing runs twice
    assert [a["event"] for a in receiver.accepted] == ["acquire", "release"]  # extend: not asked
    grant = receiver.accepted[0]["body"]
    assert isinstance(grant, dict) and grant["booking"]["holder"] == "bob@example.com"
    assert grant["environment"]["name"] == "staging"
    assert log.read_text().splitlines() == [
        "acquire bob@example.com 2026-11-28T10:00:00+00:00",
        "extend bob@example.com 2026-11-29T10:00:00+00:00",
        "release bob@example.com 2026-11-29T10:00:00+00:00"]
    with Session(db) as session:
        audited = session.scalars(select(AuditLog).where(col(AuditLog.action) == "booking.hook")
                                  .order_by(col(AuditLog.id))).all()
    results = [json.loads(a.details) for a in audited]
    assert [(r["event"], r["ok"]) for r in results] == [
        ("acquire", True), ("acquire", True), ("extend", True), ("release", True),
        ("release", True)]
    assert all(r["attempts"] for r in results)


def test_a_failed_grant_tells_the_holder_and_a_failed_revoke_the_team(
        db: Engine, receiver: HookReceiver) -> None:
    services = _services(db, receiver.url + "/access", [sys.executable, "-c", "pass"])
    chat = services.chat
    assert isinstance(chat, ConsoleTransport)
    receiver.statuses = [500, 500]  # the grant fails, retry included
    _do(services, "book")
    run_effects(services)
    bob = chat.lookup_user_by_email("bob@example.com")
    alice = chat.lookup_user_by_email("alice@example.com")
    to_bob = [m for m in chat.sent if m.channel == f"@{bob}"]
    assert len(to_bob) == 1 and "could not grant access" in to_bob[0].text
    assert "HTTP 500" in json.dumps(to_bob[0].blocks)
    assert "(2 attempts)" in json.dumps(to_bob[0].blocks)
    receiver.statuses = [400]  # the revoke is refused
    _do(services, "release")
    run_effects(services)
    to_team = [m for m in chat.sent if m.channel == "#platform"]
    assert len(to_team) == 1 and "could not revoke access" in to_team[0].text
    assert f"<@{alice}>: please revoke it by hand" in json.dumps(to_team[0].blocks)
    assert len([m for m in chat.sent if m.channel == f"@{bob}"]) == 1  # not bothered again
