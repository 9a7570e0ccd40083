"""Slack over HTTP: the sync Bolt ``App`` and the ``POST /slack/events`` route.

The route verifies the signature (401), rejects malformed bodies (400) and only then hands the
request to Bolt in a worker thread, so the event loop never blocks on listeners. Events are
deduplicated on ``event_id`` in the database, so retries and several replicas act once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import traceback
from collections.abc import Mapping
from logging import Logger
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio.to_thread
import slack_bolt
from slack_bolt import App, BoltResponse, Respond
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_bolt.request import payload_utils
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot import metrics
from bot.services import Services
from handlers.slack_commands import tell_failure
from storage.claims import first_time
from storage.db import session_scope

MAX_BODY_BYTES = 1_000_000
SIGNATURE_WINDOW_SECONDS = 300
MALFORMED = "malformed body"
_BOLT_DIR = Path(slack_bolt.__file__).resolve().parent
_BOLT_READERS = (
    payload_utils.to_options, payload_utils.to_shortcut, payload_utils.to_action,
    payload_utils.to_view, payload_utils.to_command, payload_utils.to_event,
    payload_utils.to_message, payload_utils.to_step,
)  # fmt: skip


def build_bolt_app(services: Services, *, token: str, signing_secret: str,
                   base_url: str | None = None) -> App:
    """The Bolt app with every listener registered; no network call at construction."""
    client = WebClient(token=token, base_url=base_url or WebClient.BASE_URL,
                       retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3)])
    app = App(client=client, signing_secret=signing_secret, token_verification_enabled=False,
              request_verification_enabled=True, process_before_response=False)

    @app.middleware
    def dedupe_events(body: dict[str, Any], next: Any) -> BoltResponse | None:  # noqa: A002
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            with session_scope(services.engine) as session:
                fresh = first_time(session, source="slack", event_id=str(event_id),
                                   now=services.now())
            if not fresh:
                return BoltResponse(status=200, body="")
        return next()

    @app.error
    def on_error(error: Exception, logger: Logger, respond: Respond | None) -> BoltResponse | None:
        # In dispatch, an error raised in Bolt's own code while it reads the body (a field of a
        # type Slack never sends: `"actions": []`) is the sender's: 400, not Bolt's empty 500.
        # Any other error (ours, the database's) keeps Bolt's answer and is logged in full, and
        # where the request has a response_url the user is told (a button, after its ack).
        if _raised_reading_body(error):
            logger.warning("unreadable Slack body: %s: %s", type(error).__name__, error)
            return BoltResponse(status=400, body=MALFORMED)
        logger.exception("Slack request failed: %s", error)
        tell_failure(respond, error)
        return None

    from handlers import slack_actions, slack_commands, slack_envs, slack_home, slack_lifecycle

    # slack_envs first: its `/finops` listener takes the booking verbs, the general one the rest
    for module in (slack_envs, slack_commands, slack_actions, slack_home, slack_lifecycle):
        module.register(app, services)
    return app


def _bolt_can_read(body: dict[str, Any]) -> bool:
    """Bolt's readers of the payload (the action, view, event, ...) work on this body and give
    objects: they run for every middleware and listener, and for Bolt's error handler too."""
    try:
        payloads = [read(body) for read in _BOLT_READERS]
    except (LookupError, TypeError, AttributeError):  # `"actions": []`, `"event": []`
        return False
    return all(p is None or isinstance(p, dict) for p in payloads)


def _raised_reading_body(error: Exception) -> bool:
    """A lookup, type or attribute error raised in slack_bolt's own code (its innermost frame
    is Bolt's): what reading a field of an unexpected type gives."""
    if not isinstance(error, (KeyError, IndexError, TypeError, AttributeError)):
        return False
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and Path(frames[-1].filename).is_relative_to(_BOLT_DIR)


def _well_formed(body: bytes, content_type: str) -> bool:
    """A Slack body we can read: JSON object, or a form with a command or a JSON payload."""
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/json"):
            return isinstance(json.loads(text), dict)
        form = parse_qs(text, strict_parsing=True)
        if "payload" in form:
            return isinstance(json.loads(form["payload"][0]), dict)
        return "command" in form
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: deep nesting
        return False


def valid_signature(body: bytes, headers: Mapping[str, str], *, secret: str, now: float) -> bool:
    """Slack's v0 signature over the raw bytes, within the 5-minute window (constant time)."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    # ASCII digits only ("²".isdigit() is true), and few enough of them to be a time at all
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 15:
        return False
    if abs(now - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


def slack_route(app: App, *, signing_secret: str) -> Route:
    """``POST /slack/events``: 401 on a bad or stale signature, 400 on a malformed body."""

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _answer(413, "request too large")
        if not valid_signature(body, request.headers, secret=signing_secret, now=time.time()):
            return _answer(401, "invalid signature")
        if not _well_formed(body, request.headers.get("content-type", "")):
            return _answer(400, MALFORMED)
        try:
            bolt_request = to_bolt_request(request, body)
        except (AttributeError, KeyError, TypeError):
            # Bolt reads ids out of the body as it builds the request: a field of the wrong
            # type (``"user": false``) fails there
            return _answer(400, MALFORMED)
        if not _bolt_can_read(bolt_request.body):
            return _answer(400, MALFORMED)
        bolt_response = await anyio.to_thread.run_sync(app.dispatch, bolt_request)
        metrics.HTTP_REQUESTS.labels(path="/slack/events", status=str(bolt_response.status)).inc()
        return to_starlette_response(bolt_response)

    return Route("/slack/events", endpoint, methods=["POST"])


def _answer(status: int, text: str) -> Response:
    metrics.HTTP_REQUESTS.labels(path="/slack/events", status=str(status)).inc()
    return PlainTextResponse(text, status_code=status)
