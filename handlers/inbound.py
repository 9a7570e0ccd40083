"""What every webhook endpoint checks before it does anything, written once.

The order is the same everywhere: body size (413), authentication (401; also when no secret is
configured), a JSON object (400). None of these change any state. Answers are JSON and counted
in ``finops_http_requests_total`` by path and status.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from pydantic import SecretStr
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot import metrics

MAX_BODY_BYTES = 1_000_000


async def read_body(request: Request, *, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The raw body, or None when it is larger than ``limit`` (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def secret_of(value: SecretStr | None) -> str | None:
    """The configured secret, None when unset or blank (then every request gets 401)."""
    secret = value.get_secret_value() if value is not None else None
    return secret or None


def valid_signature(body: bytes, header: str, *, secret: str | None) -> bool:
    """``sha256=<hex HMAC-SHA256(secret, body)>``, compared in constant time."""
    if not secret or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


def same_secret(given: str, *, secret: str | None) -> bool:
    """A shared secret sent as is (GitLab's token), compared in constant time."""
    if not secret or not given:
        return False
    return hmac.compare_digest(given.encode(), secret.encode())


def token_of(authorization: str) -> str:
    """The token of ``Authorization: Bearer <token>``, or the password of Basic auth."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):  # ValueError: not ASCII
            return ""
        return decoded.partition(":")[2]
    return ""


def json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: deep nesting
        return None
    return payload if isinstance(payload, dict) else None


def body_hash(body: bytes) -> str:
    """A delivery id for senders that give none: the same body is the same delivery."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def answer(path: str, status: int, body: dict[str, Any],
           background: BackgroundTask | None = None) -> Response:
    """A JSON answer, counted in the metrics; ``background`` runs after it is sent."""
    metrics.HTTP_REQUESTS.labels(path=path, status=str(status)).inc()
    return JSONResponse(body, status_code=status, background=background)
