"""``POST /webhooks/jira``: a linked ticket closed or deleted releases its bookings.

Checks, in order: body size (413), ``X-Hub-Signature: sha256=<hex>`` HMAC of the raw body with
``JIRA_WEBHOOK_SECRET`` in constant time (401; also when no secret is configured), a JSON
object with a ``webhookEvent`` (400). None of these change anything. A delivery is handled
once: deduplicated on ``X-Atlassian-Webhook-Identifier`` (else a hash of the body) in the same
transaction as the release, so a failure lets Jira's retry through. The release's effects (DMs,
channel message, revoke hooks, Jira comment) run after the answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import anyio.to_thread
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import envs, metrics
from bot.envs_effects import run_effects
from bot.services import Services
from storage.claims import first_time
from storage.db import session_scope

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1_000_000
PATH = "/webhooks/jira"


def valid_signature(body: bytes, header: str, *, secret: str | None) -> bool:
    """``sha256=<hex HMAC-SHA256(secret, body)>``, compared in constant time."""
    if not secret or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def _answer(status: int, body: dict[str, Any],
            background: BackgroundTask | None = None) -> Response:
    metrics.HTTP_REQUESTS.labels(path=PATH, status=str(status)).inc()
    return JSONResponse(body, status_code=status, background=background)


def _status_change(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """The new status name and category of an ``issue_updated`` that changed the status."""
    items = (payload.get("changelog") or {}).get("items") or []
    moved = next((i for i in items if isinstance(i, dict)
                  and (i.get("fieldId") or i.get("field")) == "status"), None)
    if moved is None:
        return None, None
    status = ((payload.get("issue") or {}).get("fields") or {}).get("status") or {}
    name = moved.get("toString") or status.get("name")
    category = (status.get("statusCategory") or {}).get("key")
    return (str(name) if name else None), (str(category) if category else None)


def _who(payload: dict[str, Any]) -> str:
    user = payload.get("user") or {}
    name = user.get("emailAddress") or user.get("displayName") or user.get("name")
    return f"jira:{name}" if name else "jira"


def handle(services: Services, payload: dict[str, Any], delivery: str) -> dict[str, Any]:
    """Dedupe and release, in one transaction; returns what was done."""
    event = str(payload.get("webhookEvent"))
    key = ((payload.get("issue") or {}).get("key"))
    with session_scope(services.engine) as session:
        now = services.now()
        if not first_time(session, source="jira", event_id=delivery, now=now):
            return {"status": "duplicate"}
        if not isinstance(key, str) or event not in ("jira:issue_updated", "jira:issue_deleted"):
            return {"status": "ignored"}
        deleted = event == "jira:issue_deleted"
        status, category = (None, None) if deleted else _status_change(payload)
        if not deleted and status is None:
            return {"status": "ignored"}
        released = envs.release_for_ticket(
            session, config=services.config, ticket=key, status=status, category=category,
            deleted=deleted, actor=envs.Actor(email=_who(payload), origin="jira"), now=now)
    return {"status": "ok", "issue": key, "released": released}


def jira_route(services: Services) -> Route:
    secret_value = services.settings.jira_webhook_secret
    secret = secret_value.get_secret_value() if secret_value is not None else None
    if secret is None:
        log.warning("JIRA_WEBHOOK_SECRET is not set: %s answers 401 to every request", PATH)

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _answer(413, {"error": "request too large"})
        if not valid_signature(body, request.headers.get("x-hub-signature", ""), secret=secret):
            return _answer(401, {"error": "invalid signature"})
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return _answer(400, {"error": "malformed JSON"})
        if not isinstance(payload, dict) or not isinstance(payload.get("webhookEvent"), str):
            return _answer(400, {"error": "not a Jira webhook event"})
        delivery = (request.headers.get("x-atlassian-webhook-identifier")
                    or "sha256:" + hashlib.sha256(body).hexdigest())
        result = await anyio.to_thread.run_sync(handle, services, payload, delivery[:256])
        background = (BackgroundTask(run_effects, services) if result.get("released")
                      else None)
        return _answer(200, result, background)

    return Route(PATH, endpoint, methods=["POST"])
