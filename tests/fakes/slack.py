"""A fake Slack Web API on loopback, for the real ``slack_sdk`` clients.

``FakeSlack`` serves ``/api/<method>`` like slack.com: bearer-token auth, JSON or form bodies,
HTTP 200 with ``{"ok": false, "error": ...}`` for API errors, HTTP 429 + ``Retry-After`` when rate
limited, Block Kit limits (``tests.fakes.slack_blocks``). It also serves the upload URLs handed
out by ``files.getUploadURLExternal`` and ``response_url`` endpoints. Every request is recorded.

    with FakeSlack(users={"ann@example.com": "U0ANN"}) as fake:
        client = WebClient(token=fake.token, base_url=fake.base_url)
        client.chat_postMessage(channel="C1", text="hi")
        assert fake.messages("C1")[0].text == "hi"

Users must be in the directory (``users=`` or ``add_user``) for DMs, ephemeral messages, App Home
and lookups, as in a real workspace. ``reset()`` forgets everything: calls, messages, files,
views, replies, faults, user groups, and the directory goes back to the ``users=`` given at
construction.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.http import Serving
from tests.fakes.slack_blocks import message_errors
from tests.fakes.slack_workspace import METHODS, FakeFile, FakeMessage, Json, SlackError, Workspace

__all__ = ["Call", "FakeFile", "FakeMessage", "FakeSlack", "Reply"]

RESPONSE_URL_USES = 5  # Slack takes five posts per response_url (within 30 minutes)
_JSON_FIELDS = ("blocks", "view", "files", "attachments")


@dataclass
class Call:
    """One request as the fake saw it; ``args`` has JSON-valued fields (blocks, view...) decoded.

    ``method`` is the Web API method, or ``upload_url`` / ``response_url`` for those endpoints.
    """

    method: str
    args: Json
    headers: dict[str, str]
    at: float
    status: int = 200
    response: Any = None


@dataclass
class Reply:
    """A JSON payload posted to a ``response_url``."""

    url: str
    payload: Json
    at: float

    @property
    def response_type(self) -> str:
        return str(self.payload.get("response_type", "ephemeral"))

    @property
    def replace_original(self) -> bool:
        return bool(self.payload.get("replace_original", False))

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))


@dataclass
class _Fault:
    times: int
    status: int
    error: str
    retry_after: int | None = None


def _decode(value: Any) -> Any:
    """Form bodies carry blocks/view/files as JSON strings; JSON bodies carry them as values."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class _Server(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops connections under a burst of concurrent
    # clients, which then wait a second for their SYN to be resent: Slack does not do that
    request_queue_size = 128


class FakeSlack(Serving):
    """Threaded loopback server behaving like the Slack Web API; see the module docstring."""

    def __init__(self, *, token: str = "xoxb-fake-token", users: dict[str, str] | None = None,
                 team_id: str = "T0FAKE", bot_user_id: str = "U0BOT") -> None:
        self.token, self.team_id, self.bot_user_id = token, team_id, bot_user_id
        self._initial_users = dict(users or {})
        self._lock = threading.Lock()
        self.reset()

    # -- lifecycle
    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: nothing outlives stop()

            def do_POST(self) -> None:
                fake._handle(self)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the recorded calls are the log

        self.serve(_Server(("127.0.0.1", 0), Handler))
        self._ws.root_url = self.root_url
        return self


    @property
    def root_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """For ``WebClient(base_url=...)``; keep the trailing slash (the SDK uses urljoin)."""
        return f"{self.root_url}/api/"

    # -- configuration and fault injection
    def reset(self) -> None:
        with self._lock:
            self._ws = Workspace(team_id=self.team_id, bot_user_id=self.bot_user_id,
                                 root_url=self.root_url if self._server else "")
            self._calls: list[Call] = []
            self._replies: list[Reply] = []
            self._response_urls: dict[str, int] = {}  # token -> posts so far
            self._faults: dict[str, list[_Fault]] = {}
            self._holds: dict[str, list[Any]] = {}
            self._holding: list[str] = []
        for email, user_id in self._initial_users.items():
            self.add_user(email, user_id=user_id)

    def add_user(self, email: str, *, user_id: str | None = None, name: str | None = None,
                 real_name: str | None = None, email_shown: bool = True) -> str:
        """Put a user in the directory; returns the user id (derived from the email if None).
        With ``email_shown=False`` the profile has no email, as Slack answers an app that lacks
        the users:read.email scope, and users.lookupByEmail does not find the user."""
        with self._lock:
            return self._ws.add_user(email, user_id, name, real_name, email_shown)

    def add_usergroup(self, group_id: str, members: list[str], *,
                      handle: str | None = None) -> None:
        """Create (or replace) user group ``group_id`` (``S...``) holding these user ids, which
        must be in the directory; ``usergroups.users.list`` answers them."""
        with self._lock:
            self._ws.add_usergroup(group_id, handle or group_id.lower(), list(members))

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer HTTP 429 with ``Retry-After``."""
        self._add_fault(method, _Fault(times, 429, "ratelimited", retry_after))

    def fail(self, method: str, *, error: str = "internal_error", times: int = 1,
             status: int = 200) -> None:
        """The next ``times`` calls of ``method`` fail with ``error`` (HTTP ``status``)."""
        self._add_fault(method, _Fault(times, status, error))

    def _add_fault(self, method: str, fault: _Fault) -> None:
        with self._lock:
            self._faults.setdefault(method, []).append(fault)

    def archive_channel(self, channel: str) -> None:
        """Posting to (or updating in) ``channel`` answers ``is_archived``, as for an archived
        channel."""
        with self._lock:
            self._ws.archived.add(channel)

    def expire_trigger(self, trigger_id: str) -> None:
        """``views.open`` with this trigger answers ``expired_trigger_id`` (its 3 s are over)."""
        with self._lock:
            self._ws.triggers_expired.add(trigger_id)

    def response_url(self, label: str = "r") -> str:
        """A fresh response URL, as Slack puts in commands and interactions."""
        with self._lock:
            token = f"{label}-{next(self._ws.seq)}"
            self._response_urls[token] = 0
        return f"{self.root_url}/response/{token}"

    # -- queries
    def calls(self, method: str | None = None) -> list[Call]:
        """Every request (failed ones too), oldest first, optionally of one method."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def messages(self, channel: str | None = None) -> list[FakeMessage]:
        """Live (not deleted) messages, ephemeral ones included, oldest first."""
        with self._lock:
            return [m for m in self._ws.messages
                    if not m.deleted and (channel is None or m.channel == channel)]

    @property
    def files(self) -> dict[str, FakeFile]:
        """Files by id, from ``files.getUploadURLExternal`` on (see ``FakeFile.completed``)."""
        with self._lock:
            return dict(self._ws.files)

    @property
    def replies(self) -> list[Reply]:
        with self._lock:
            return list(self._replies)

    @property
    def home_views(self) -> dict[str, Json]:
        """The App Home view published for each user id."""
        with self._lock:
            return dict(self._ws.home)

    @property
    def views(self) -> dict[str, Json]:
        """Open modals by view id."""
        with self._lock:
            return dict(self._ws.views)

    # -- HTTP
    def hold(self, method: str, *, after: int = 0) -> threading.Event:
        """Let ``after`` calls of ``method`` through, then hold the next one without answering
        or recording it until the returned event is set; then it is dropped unanswered, as if
        it never reached Slack (a caller killed meanwhile never sees an answer)."""
        release = threading.Event()
        with self._lock:
            self._holds[method] = [after, release]
        return release

    @property
    def held(self) -> list[str]:
        """Methods of the requests being held now."""
        with self._lock:
            return list(self._holding)

    def _hold(self, method: str) -> bool:
        with self._lock:
            spec = self._holds.get(method)
            if spec is None:
                return False
            if spec[0] > 0:
                spec[0] -= 1
                return False
            del self._holds[method]
            self._holding.append(method)
        spec[1].wait()
        with self._lock:
            self._holding.remove(method)
        return True

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        url = urlsplit(req.path)
        body = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        if url.path.startswith("/api/") and self._hold(url.path[5:]):
            req.close_connection = True
            return
        headers = dict(req.headers.items())
        extra: dict[str, str] = {}
        status, payload = 404, b"not found"
        try:
            if url.path.startswith("/api/"):
                status, extra, payload = self._api(url.path[5:], url.query, headers, body)
            elif url.path.startswith("/upload/v1/"):
                status, payload = self._upload(url.path.rsplit("/", 1)[1], headers, body)
            elif url.path.startswith("/response/"):
                status, payload = self._respond(url.path.rsplit("/", 1)[1], headers, body)
        except Exception as exc:  # a bug in the fake: answer 500 so the failing test shows it
            status, payload = 500, f"fake crashed: {exc!r}".encode()
        req.send_response(status)
        is_json = payload.startswith(b"{")
        req.send_header("Content-Type", "application/json; charset=utf-8" if is_json
                        else "text/plain; charset=utf-8")
        for key, value in extra.items():
            req.send_header(key, value)
        req.send_header("Content-Length", str(len(payload)))
        req.end_headers()
        req.wfile.write(payload)

    def _api(self, method: str, query: str, headers: dict[str, str],
             body: bytes) -> tuple[int, dict[str, str], bytes]:
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        is_json = content_type == "application/json"
        args: Json = dict(parse_qsl(query))
        status, extra = 200, dict[str, str]()
        try:
            if is_json and body:
                parsed = _decode(body.decode())
                if not isinstance(parsed, dict):
                    raise SlackError("invalid_json")
                args.update(parsed)
            elif body and content_type in ("application/x-www-form-urlencoded", ""):
                args.update(parse_qsl(body.decode()))
            elif body:
                raise SlackError("invalid_form_data")
            for key in _JSON_FIELDS:
                if key in args:
                    args[key] = _decode(args[key])
            with self._lock:
                self._authorize(headers, args, json_body=is_json)
                fault = self._next_fault(method)
                if fault is not None:
                    if fault.retry_after is not None:
                        extra["Retry-After"] = str(fault.retry_after)
                    raise SlackError(fault.error, status=fault.status)
                handler = METHODS.get(method)
                if handler is None:
                    raise SlackError("unknown_method", status=404)
                result: Json = {"ok": True, **handler(self._ws, args)}
        except SlackError as exc:
            status, result = exc.status, exc.body()
        with self._lock:
            self._calls.append(Call(method, args, headers, time.time(), status, result))
        return status, extra, json.dumps(result).encode()

    def _authorize(self, headers: dict[str, str], args: Json, *, json_body: bool) -> None:
        auth = headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        if token is None and not json_body:
            token = args.pop("token", None)  # form posts may carry the token as a field
        if not token:
            raise SlackError("not_authed")
        if token != self.token:
            raise SlackError("invalid_auth")

    def _next_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault

    def _upload(self, token: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        with self._lock:
            file_id = self._ws.uploads.get(token)
            file = self._ws.files.get(file_id or "")
            status, text = 200, f"OK - {len(body)}"
            if file is None:
                status, text = 404, "unknown upload url"
            elif len(body) != file.length:
                status, text = 400, f"length mismatch: announced {file.length}, got {len(body)}"
            else:
                file.content = body
            self._calls.append(Call("upload_url", {"file_id": file_id, "bytes": len(body)},
                                    headers, time.time(), status, text))
        return status, text.encode()

    def _respond(self, token: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        url = f"{self.root_url}/response/{token}"
        payload = _decode(body.decode(errors="replace"))
        with self._lock:
            status, text = 200, "ok"
            uses = self._response_urls.get(token)
            if uses is None or uses >= RESPONSE_URL_USES:
                status, text = 404, "expired_url"
            elif not isinstance(payload, dict):
                status, text = 400, "invalid_payload"
            elif not (payload.get("text") or payload.get("blocks")
                      or payload.get("delete_original")):
                status, text = 400, "no_text"
            elif "blocks" in payload and message_errors(payload["blocks"]):
                status, text = 400, "invalid_blocks"
            else:
                self._response_urls[token] = uses + 1
                self._replies.append(Reply(url, payload, time.time()))
            args = payload if isinstance(payload, dict) else {}
            self._calls.append(Call("response_url", args, headers, time.time(), status, text))
        return status, text.encode()
