"""``POST /webhooks/github``, ``/webhooks/gitlab``, ``/webhooks/jenkins``: deploys into the
environments' history.

Checks, in order (handlers/inbound.py): body size (413); authentication (401, also when the
secret is not configured) — GitHub ``X-Hub-Signature-256`` HMAC of the raw body with
``GITHUB_WEBHOOK_SECRET``, GitLab ``X-Gitlab-Token`` equal to ``GITLAB_WEBHOOK_TOKEN``, Jenkins
``JENKINS_WEBHOOK_TOKEN`` as ``Authorization: Bearer`` or the Basic-auth password (or a pipeline's
own ``X-Hub-Signature-256`` made with it); a JSON object that is what it claims to be (400).
None of these change anything. Events that are not deploys are answered 200 ``ignored``.

A delivery is recorded once: deduplicated on GitHub's hook id + delivery id, GitLab's
``Idempotency-Key`` / ``X-Gitlab-Event-UUID``, Jenkins' job + build number + phase (else a hash of
the body), in the transaction that records the deploy. Commit titles, Slack messages and PR
comments run after the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio.to_thread
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot import deploy_parsers
from bot.deploy_parsers import Ignored, Parsed
from bot.deploys import receive
from bot.deploys_effects import run_deploy_effects
from bot.errors import InputError
from bot.services import Services
from handlers.inbound import (
    answer,
    body_hash,
    json_object,
    read_body,
    same_secret,
    secret_of,
    token_of,
    valid_signature,
)

log = logging.getLogger(__name__)
Headers = Mapping[str, str]


@dataclass(frozen=True)
class Hook:
    """One deploy webhook: where it is served and how its requests are read."""

    source: str
    path: str
    secret: str | None
    authentic: Callable[[Headers, bytes, str | None], bool]
    parse: Callable[[Headers, dict[str, Any]], Parsed]  # InputError: malformed (400)
    delivery: Callable[[Headers, dict[str, Any], bytes], str]


def _github_authentic(headers: Headers, body: bytes, secret: str | None) -> bool:
    return valid_signature(body, headers.get("x-hub-signature-256", ""), secret=secret)


def _github_event(headers: Headers) -> str:
    event = headers.get("x-github-event", "").strip()
    if not event:
        raise InputError("no X-GitHub-Event header")
    return event


def _github_delivery(headers: Headers, _: dict[str, Any], body: bytes) -> str:
    hook = headers.get("x-github-hook-id", "")
    return f"{hook}:{headers.get('x-github-delivery') or body_hash(body)}"


def _gitlab_authentic(headers: Headers, _: bytes, secret: str | None) -> bool:
    return same_secret(headers.get("x-gitlab-token", ""), secret=secret)


def _gitlab_delivery(headers: Headers, _: dict[str, Any], body: bytes) -> str:
    return (headers.get("idempotency-key") or headers.get("x-gitlab-event-uuid")
            or body_hash(body))


def _jenkins_authentic(headers: Headers, body: bytes, secret: str | None) -> bool:
    if "x-hub-signature-256" in headers:  # a pipeline posting its own signed JSON
        return _github_authentic(headers, body, secret)
    return same_secret(token_of(headers.get("authorization", "")), secret=secret)


def hooks(services: Services) -> list[Hook]:
    settings, config = services.settings, services.config.deploys
    return [
        Hook("github", "/webhooks/github", secret_of(settings.github_webhook_secret),
             _github_authentic,
             lambda h, p: deploy_parsers.github(_github_event(h), p, config),
             _github_delivery),
        Hook("gitlab", "/webhooks/gitlab", secret_of(settings.gitlab_webhook_token),
             _gitlab_authentic,
             lambda h, p: deploy_parsers.gitlab(h.get("x-gitlab-event", ""), p, config),
             _gitlab_delivery),
        Hook("jenkins", "/webhooks/jenkins", secret_of(settings.jenkins_webhook_token),
             _jenkins_authentic,
             lambda h, p: deploy_parsers.jenkins(p, config),
             lambda h, p, b: deploy_parsers.jenkins_delivery(p)),
    ]


def _route(services: Services, hook: Hook) -> Route:
    if hook.secret is None:
        log.warning("the %s webhook secret is not set: %s answers 401 to every request",
                    hook.source, hook.path)

    async def endpoint(request: Request) -> Response:
        body = await read_body(request)
        if body is None:
            return answer(hook.path, 413, {"error": "request too large"})
        if not hook.authentic(request.headers, body, hook.secret):
            return answer(hook.path, 401, {"error": "invalid signature or token"})
        payload = json_object(body)
        if payload is None:
            return answer(hook.path, 400, {"error": "malformed JSON"})
        try:
            parsed = hook.parse(request.headers, payload)
        except InputError as exc:
            return answer(hook.path, 400, {"error": str(exc)})
        if isinstance(parsed, Ignored):
            return answer(hook.path, 200, {"status": "ignored", "reason": parsed.reason})
        delivery = hook.delivery(request.headers, payload, body)
        result = await anyio.to_thread.run_sync(partial(
            receive, services, source=hook.source, delivery=delivery, report=parsed))
        background = (BackgroundTask(run_deploy_effects, services)
                      if result.get("pending_effects") else None)
        return answer(hook.path, 200, result, background)

    return Route(hook.path, endpoint, methods=["POST"])


def deploy_routes(services: Services) -> list[Route]:
    """The three deploy webhooks."""
    return [_route(services, hook) for hook in hooks(services)]
