"""Run the real ASGI app under uvicorn on loopback, sign requests the way Slack does, and make
the database fail on chosen statements."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

SIGNING_SECRET = "test-signing-secret"


@contextmanager
def serve(asgi: Any) -> Iterator[str]:
    """Serve ``asgi`` on 127.0.0.1 (free port) in a thread; yields the base URL."""
    config = uvicorn.Config(asgi, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def signed_headers(body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None,
                   content_type: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = f"v0:{ts}:".encode() + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature,
            "Content-Type": content_type}


class SlackClientSim:
    """Sends what Slack sends: slash commands, interactions and events, correctly signed."""

    def __init__(self, base_url: str, *, team_id: str = "T0FAKE") -> None:
        self.url = base_url + "/slack/events"
        self.team_id = team_id
        self.http = httpx.Client(timeout=10)

    def close(self) -> None:
        self.http.close()

    def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.http.post(self.url, content=body, headers=headers)

    def command(self, text: str, *, user_id: str, response_url: str,
                command: str = "/finops") -> httpx.Response:
        body = urlencode({
            "token": "legacy", "team_id": self.team_id, "channel_id": "C0GENERAL",
            "channel_name": "general", "user_id": user_id, "user_name": user_id.lower(),
            "command": command, "text": text, "response_url": response_url,
            "trigger_id": "1337.42.abc", "api_app_id": "A0FINOPS",
        }).encode()
        return self.post(body, signed_headers(body))

    def action(self, action_id: str, value: str, *, user_id: str, response_url: str,
               trigger_id: str = "1337.42.def") -> httpx.Response:
        payload = {
            "type": "block_actions", "team": {"id": self.team_id}, "api_app_id": "A0FINOPS",
            "user": {"id": user_id, "team_id": self.team_id}, "trigger_id": trigger_id,
            "container": {"type": "message", "channel_id": "C0GENERAL", "message_ts": "1.2"},
            "channel": {"id": "C0GENERAL"}, "response_url": response_url,
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b",
                         "value": value, "action_ts": "1.3"}],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, signed_headers(body))

    def home_action(self, action_id: str, value: str, *, user_id: str) -> httpx.Response:
        """A button pressed in App Home: Slack sends the view it is in, and no channel and no
        ``response_url`` (there is no message to answer)."""
        payload = {
            "type": "block_actions", "team": {"id": self.team_id}, "api_app_id": "A0FINOPS",
            "user": {"id": user_id, "team_id": self.team_id}, "trigger_id": "1337.42.home",
            "container": {"type": "view", "view_id": f"VHOME{user_id}"},
            "view": {"id": f"VHOME{user_id}", "type": "home", "blocks": [], "hash": "h1"},
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b",
                         "value": value, "action_ts": "1.3"}],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, signed_headers(body))

    def event(self, event: dict[str, Any], *, event_id: str,
              retry: int | None = None) -> httpx.Response:
        body = json.dumps({
            "token": "legacy", "team_id": self.team_id, "api_app_id": "A0FINOPS",
            "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
            "event": event,
        }).encode()
        headers = signed_headers(body, content_type="application/json")
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return self.post(body, headers)


def github_headers(body: bytes, *, secret: str, event: str, delivery: str,
                   hook_id: str = "424242") -> dict[str, str]:
    """The headers GitHub sends with a webhook: event, ids and the HMAC of the raw body."""
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
            "X-GitHub-Hook-ID": hook_id, "X-Hub-Signature-256": signature,
            "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/5f1c0a1"}


class Clock:
    """The injected clock: tests move it; nothing sleeps."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def failing(engine: Engine, when: Callable[[str], bool],
            error: Callable[[str], Exception] | None = None) -> Iterator[list[str]]:
    """Statements for which ``when`` holds raise ``error`` (by default a dropped connection)."""
    failed: list[str] = []
    make = error or connection_lost

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if when(statement):
            failed.append(statement)
            raise make(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield failed
    finally:
        event.remove(engine, "before_cursor_execute", before)


def connection_lost(statement: str) -> Exception:
    """What SQLAlchemy raises when the server closes the connection under a statement."""
    return OperationalError(statement, None, Exception("server closed the connection"))


def wait(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll until ``predicate`` gives something true and return it; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert result, "condition not reached"
    return result
