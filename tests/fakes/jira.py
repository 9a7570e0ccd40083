"""A fake Jira (REST API v2) on loopback, for the real ``jira`` client, that sends webhooks.

Serves what the bot and its tests use: ``serverInfo``, issues (get, delete), comments and
transitions, with Basic auth and Jira's error shapes (``{"errorMessages": [...], "errors":
{...}}``). Like a Jira admin webhook with a secret, it POSTs ``jira:issue_updated`` (with a
status changelog) after a transition and ``jira:issue_deleted`` after a delete to the
subscribed URL, signed with ``X-Hub-Signature: sha256=<hex>`` and identified by
``X-Atlassian-Webhook-Identifier``; each delivery's HTTP status is kept in ``deliveries``.

    with FakeJira() as jira:
        jira.add_issue("OPS-1")
        client = JIRA(server=jira.url, basic_auth=(jira.user, jira.token), max_retries=0)

Tests take the ``fake_jira`` fixture by binding it in their module (pytest finds fixtures by
module globals): ``fake_jira = jira_fakes.fake_jira`` after ``from tests.fakes import jira as
jira_fakes``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.fakes.http import Call, FakeServer, Reply, json_reply

STATUSES = {  # name -> (id, category key, category name)
    "To Do": ("10000", "new", "To Do"),
    "In Progress": ("3", "indeterminate", "In Progress"),
    "In Review": ("10100", "indeterminate", "In Progress"),
    "Done": ("10001", "done", "Done"),
}
TRANSITIONS = {"11": ("Reopen", "To Do"), "21": ("Start Progress", "In Progress"),
               "31": ("Review", "In Review"), "41": ("Done", "Done")}
_ISSUE = re.compile(r"^/rest/api/2/issue/([A-Z][A-Z0-9_]+-\d+|\d+)(/comment|/transitions)?$")


@dataclass
class FakeIssue:
    """An issue: key, summary and current status; its comments."""

    key: str
    id: str
    status: str = "In Progress"
    summary: str = ""
    comments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Delivery:
    """A webhook the fake sent: its body, identifier and the receiver's HTTP status."""

    body: dict[str, Any]
    identifier: str
    status: int


def _errors(status: int, *messages: str, **errors: str) -> Reply:
    return json_reply({"errorMessages": list(messages), "errors": errors}, status)


class FakeJira(FakeServer):
    """Jira Server/Data Center REST v2 as the ``jira`` client sees it; see the module doc."""

    def __init__(self, *, user: str = "finops-bot@example.com", token: str = "jira-token") -> None:
        super().__init__()
        self.user, self.token = user, token
        self.issues: dict[str, FakeIssue] = {}
        self.deliveries: list[Delivery] = []
        self.webhook_url: str | None = None
        self.webhook_secret = ""
        self._ids = itertools.count(10001)
        self._senders: list[threading.Thread] = []

    # --- test controls -------------------------------------------------------------------

    def add_issue(self, key: str, *, status: str = "In Progress", summary: str = "") -> FakeIssue:
        with self._lock:
            issue = FakeIssue(key, str(next(self._ids)), status, summary or f"Work on {key}")
            self.issues[key] = issue
            return issue

    def subscribe(self, url: str, secret: str) -> None:
        """Send issue events to ``url``, signed with ``secret``."""
        self.webhook_url, self.webhook_secret = url, secret

    def wait_for_deliveries(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while len(self.deliveries) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        for sender in list(self._senders):
            sender.join(timeout=max(0.0, deadline - time.monotonic()))
        return list(self.deliveries)

    def comments(self, key: str) -> list[str]:
        return [c["body"] for c in self.issues[key].comments]

    def stop(self) -> None:
        for sender in list(self._senders):
            sender.join(timeout=5)
        super().stop()

    # --- the API ------------------------------------------------------------------------

    def not_found_body(self, call: Call) -> Any:
        return {"errorMessages": [f"null for uri: {call.path}"], "errors": {}}

    def handle(self, call: Call) -> Reply:
        if not self._authorized(call):
            return _errors(401, "You are not authenticated. Authentication required to use "
                                "this resource.")
        if call.method == "GET" and call.path == "/rest/api/2/serverInfo":
            return json_reply({"baseUrl": self.url, "version": "9.12.2",
                               "versionNumbers": [9, 12, 2], "deploymentType": "Server",
                               "buildNumber": 9120002, "serverTitle": "Fake Jira"})
        match = _ISSUE.match(call.path)
        if match is None:
            return self.not_found(call)
        ref, sub = match.group(1), match.group(2)  # an issue key, or its id
        with self._lock:
            issue = next((i for i in self.issues.values() if ref in (i.key, i.id)), None)
        if issue is None:
            return _errors(404, "Issue does not exist or you do not have permission to see it.")
        if sub is None and call.method == "GET":
            return json_reply(self._issue_json(issue))
        if sub is None and call.method == "DELETE":
            with self._lock:
                del self.issues[issue.key]
            self._send("jira:issue_deleted", issue, changelog=None)
            return Reply(204)
        if sub == "/comment" and call.method == "POST":
            return self._comment(issue, call)
        if sub == "/transitions" and call.method == "GET":
            return json_reply({"expand": "transitions", "transitions": [
                {"id": tid, "name": name, "to": self._status_json(to), "hasScreen": False}
                for tid, (name, to) in TRANSITIONS.items() if to != issue.status]})
        if sub == "/transitions" and call.method == "POST":
            return self._transition(issue, call)
        return self.not_found(call)

    def _authorized(self, call: Call) -> bool:
        auth = call.headers.get("authorization", "")
        if not auth.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(auth[6:]).decode()
        except ValueError:
            return False
        return hmac.compare_digest(given, f"{self.user}:{self.token}")

    def _status_json(self, name: str) -> dict[str, Any]:
        sid, key, category = STATUSES[name]
        return {"self": f"{self.url}/rest/api/2/status/{sid}", "id": sid, "name": name,
                "statusCategory": {"id": {"new": 2, "indeterminate": 4, "done": 3}[key],
                                   "key": key, "name": category,
                                   "colorName": {"new": "blue-gray", "indeterminate": "yellow",
                                                 "done": "green"}[key]}}

    def _issue_json(self, issue: FakeIssue) -> dict[str, Any]:
        return {"id": issue.id, "key": issue.key, "self": f"{self.url}/rest/api/2/issue/{issue.id}",
                "fields": {"summary": issue.summary, "status": self._status_json(issue.status)}}

    def _comment(self, issue: FakeIssue, call: Call) -> Reply:
        try:
            body = call.json()
        except ValueError:
            return _errors(400, "Unexpected character in the JSON body")
        text = body.get("body") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return _errors(400, comment="Comment body can not be empty!")
        comment = {"id": str(next(self._ids)), "body": text,
                   "self": f"{self.url}/rest/api/2/issue/{issue.id}/comment",
                   "author": {"name": self.user, "displayName": "finops-bot"},
                   "created": "2026-11-27T10:00:00.000+0000"}
        with self._lock:
            issue.comments.append(comment)
        return json_reply(comment, 201)

    def _transition(self, issue: FakeIssue, call: Call) -> Reply:
        body = call.json() or {}
        tid = str((body.get("transition") or {}).get("id", ""))
        if tid not in TRANSITIONS or TRANSITIONS[tid][1] == issue.status:
            return _errors(400, f"Transition id '{tid}' is not valid for this issue.")
        before = issue.status
        with self._lock:
            issue.status = TRANSITIONS[tid][1]
        item = {"field": "status", "fieldtype": "jira", "fieldId": "status",
                "from": STATUSES[before][0], "fromString": before,
                "to": STATUSES[issue.status][0], "toString": issue.status}
        self._send("jira:issue_updated", issue, changelog={"id": str(next(self._ids)),
                                                          "items": [item]})
        return Reply(204)

    # --- webhooks: sent after the answer, as Jira does --------------------------------------

    def _send(self, event: str, issue: FakeIssue, changelog: dict[str, Any] | None) -> None:
        if self.webhook_url is None:
            return
        payload: dict[str, Any] = {
            "timestamp": int(time.time() * 1000), "webhookEvent": event,
            "issue_event_type_name": "issue_generic" if changelog else "issue_deleted",
            "user": {"name": "dana", "displayName": "Dana Jira",
                     "emailAddress": "dana@example.com"},
            "issue": self._issue_json(issue),
        }
        if changelog is not None:
            payload["changelog"] = changelog
        sender = threading.Thread(target=self._deliver, args=(payload,), daemon=True)
        self._senders.append(sender)
        sender.start()

    def _deliver(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        identifier = f"wh-{next(self._ids)}"
        signature = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature": f"sha256={signature}",
                   "X-Atlassian-Webhook-Identifier": identifier}
        with httpx.Client(timeout=10) as client:
            status = client.post(self.webhook_url or "", content=body, headers=headers).status_code
        with self._lock:
            self.deliveries.append(Delivery(payload, identifier, status))


@pytest.fixture
def fake_jira() -> Iterator[FakeJira]:
    """A fake Jira for one test; at its end, every call was one the fake implements."""
    with FakeJira() as fake:
        yield fake
        fake.assert_clean()
