"""``POST /webhooks/jira``: a linked ticket closed or deleted releases its bookings.

Checks, in order: body size (413), ``X-Hub-Signature: sha256=<hex>`` HMAC of the raw body with
``JIRA_WEBHOOK_SECRET`` in constant time (401; also when no secret is configured), a JSON
object with a ``webhookEvent`` (400). None of these change anything. A delivery is handled
once: deduplicated on ``X-Atlassian-Webhook-Identifier`` (else a hash of the body) in the same
transaction as the release, so a failure lets Jira's retry through. The release's effects (DMs,
channel message, revoke hooks, Jira comment) run after the answer.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio.to_thread
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot import envs
from bot.envs_effects import run_effects
from bot.services import Services
from handlers.inbound import (
    MAX_BODY_BYTES,
    answer,
    body_hash,
    json_object,
    secret_of,
    valid_signature,
)
from storage.claims import first_time
from storage.db import session_scope

__all__ = ["MAX_BODY_BYTES", "handle", "jira_route", "valid_signature"]

log = logging.getLogger(__name__)
PATH = "/webhooks/jira"


def _answer(status: int, body: dict[str, Any],
            background: BackgroundTask | None = None) -> Response:
    return answer(PATH, status, body, background)


def _obj(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one: a field of the wrong type is absent."""
    return value if isinstance(value, dict) else {}


def _status_change(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """The new status name and category of an ``issue_updated`` that changed the status."""
    items = _obj(payload.get("changelog")).get("items")
    moved = next((i for i in (items if isinstance(items, list) else ()) if isinstance(i, dict)
                  and (i.get("fieldId") or i.get("field")) == "status"), None)
    if moved is None:
        return None, None
    status = _obj(_obj(_obj(payload.get("issue")).get("fields")).get("status"))
    name = moved.get("toString") or status.get("name")
    category = _obj(status.get("statusCategory")).get("key")
    return (str(name) if name else None), (str(category) if category else None)


def _who(payload: dict[str, Any]) -> str:
    user = _obj(payload.get("user"))
    name = user.get("emailAddress") or user.get("displayName") or user.get("name")
    return f"jira:{name}" if name else "jira"


def handle(services: Services, payload: dict[str, Any], delivery: str) -> dict[str, Any]:
    """Dedupe and release, in one transaction; returns what was done."""
    event = str(payload.get("webhookEvent"))
    key = _obj(payload.get("issue")).get("key")
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
    secret = secret_of(services.settings.jira_webhook_secret)
    if secret is None:
        log.warning("JIRA_WEBHOOK_SECRET is not set: %s answers 401 to every request", PATH)

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _answer(413, {"error": "request too large"})
        if not valid_signature(body, request.headers.get("x-hub-signature", ""), secret=secret):
            return _answer(401, {"error": "invalid signature"})
        payload = json_object(body)
        if payload is None:
            return _answer(400, {"error": "malformed JSON"})
        if not isinstance(payload.get("webhookEvent"), str):
            return _answer(400, {"error": "not a Jira webhook event"})
        delivery = request.headers.get("x-atlassian-webhook-identifier") or body_hash(body)
        result = await anyio.to_thread.run_sync(handle, services, payload, delivery[:256])
        background = (BackgroundTask(run_effects, services) if result.get("released")
                      else None)
        return _answer(200, result, background)

    return Route(PATH, endpoint, methods=["POST"])
