"""Access hooks: grant and revoke temporary access when an environment is booked or released.

An HTTP hook gets a JSON POST signed like GitHub's webhooks: ``X-Finops-Signature: sha256=<hex
HMAC-SHA256 of the raw body>`` with the hook's secret, plus ``X-Finops-Event`` and a stable
``X-Finops-Delivery`` id (the same on every retry, so the receiver can deduplicate). A command
hook runs without a shell, with the booking in ``FINOPS_*`` environment variables.

Failures are retried with exponential backoff (``backoff``, ``2 * backoff``, ...): network
errors, timeouts, HTTP 408/429/5xx and non-zero exits. Other HTTP 4xx answers and a missing
program are final. Every attempt is returned for the audit log; nothing here raises for a
failing hook.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.config_sections import Hook

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_TAIL = 200  # characters of a response body or stderr kept for the audit


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try: HTTP status or exit code (None: no answer), error text, duration."""

    number: int
    ok: bool
    status: int | None
    error: str
    seconds: float


@dataclass(frozen=True, slots=True)
class HookResult:
    """The outcome of one hook for one event, with every attempt."""

    target: str  # the URL, or the command line
    event: str
    ok: bool
    attempts: list[Attempt] = field(default_factory=list)

    def summary(self) -> str:
        last = self.attempts[-1] if self.attempts else None
        if self.ok or last is None:
            return f"{self.target}: ok"
        tries = len(self.attempts)
        return f"{self.target}: {last.error or 'failed'} ({tries} attempt{'s' * (tries > 1)})"

    def audit(self) -> dict[str, Any]:
        return {"target": self.target, "event": self.event, "ok": self.ok,
                "attempts": [asdict(a) for a in self.attempts]}


def sign(body: bytes, secret: str) -> str:
    """The ``X-Finops-Signature`` header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _tail(text: str) -> str:
    text = " ".join(text.split())
    return text[-_TAIL:]


def _retry(attempts: int, backoff: float, sleep: Callable[[float], None],
           once: Callable[[int], tuple[Attempt, bool]]) -> list[Attempt]:
    """Run ``once`` until it succeeds, says stop, or ``attempts`` are used up."""
    done: list[Attempt] = []
    for number in range(1, attempts + 1):
        attempt, retryable = once(number)
        done.append(attempt)
        if attempt.ok or not retryable or number == attempts:
            break
        sleep(backoff * 2 ** (number - 1))
    return done


def call_http(url: str, payload: Mapping[str, Any], *, secret: str, event: str, delivery: str,
              timeout: float = 10.0, retries: int = 2, backoff: float = 1.0,
              sleep: Callable[[float], None] = time.sleep) -> HookResult:
    """POST ``payload`` as signed JSON to ``url``; 2xx is success."""
    body = json.dumps(dict(payload), sort_keys=True, separators=(",", ":"),
                      default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "finops-bot",
               "X-Finops-Event": event, "X-Finops-Delivery": delivery,
               "X-Finops-Signature": sign(body, secret)}

    def once(number: int) -> tuple[Attempt, bool]:
        started = time.monotonic()
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status = int(response.status)
                return Attempt(number, 200 <= status < 300, status, "",
                               time.monotonic() - started), True
        except urllib.error.HTTPError as exc:
            text = _tail(exc.read().decode(errors="replace")) if exc.fp else ""
            exc.close()
            return (Attempt(number, False, exc.code, f"HTTP {exc.code} {text}".strip(),
                            time.monotonic() - started), exc.code in RETRYABLE_STATUS)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return Attempt(number, False, None, _tail(f"{type(exc).__name__}: {reason}"),
                           time.monotonic() - started), True

    attempts = _retry(retries + 1, backoff, sleep, once)
    return HookResult(url, event, attempts[-1].ok, attempts)


def run_command(command: str | list[str], variables: Mapping[str, str], *, event: str,
                timeout: float = 10.0, retries: int = 2, backoff: float = 1.0,
                sleep: Callable[[float], None] = time.sleep) -> HookResult:
    """Run ``command`` (no shell) with ``variables`` added to the environment; exit 0 is
    success."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    shown = command if isinstance(command, str) else shlex.join(command)
    env = {**os.environ, **variables}

    def once(number: int) -> tuple[Attempt, bool]:
        started = time.monotonic()
        try:
            done = subprocess.run(argv, env=env, capture_output=True, text=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return Attempt(number, False, None, f"timed out after {timeout:g} s",
                           time.monotonic() - started), True
        except OSError as exc:  # no such program, not executable: retrying will not help
            return Attempt(number, False, None, _tail(f"{type(exc).__name__}: {exc.strerror}"),
                           time.monotonic() - started), False
        error = "" if done.returncode == 0 else _tail(
            f"exit {done.returncode}: {done.stderr or done.stdout}")
        return (Attempt(number, done.returncode == 0, done.returncode, error,
                        time.monotonic() - started), True)

    attempts = _retry(retries + 1, backoff, sleep, once)
    return HookResult(shown, event, attempts[-1].ok, attempts)


def run_hook(hook: Hook, *, event: str, delivery: str, payload: Mapping[str, Any],
             variables: Mapping[str, str], secrets: Mapping[str, str],
             sleep: Callable[[float], None] = time.sleep) -> HookResult:
    """Run one configured hook for ``event``."""
    if hook.command is not None:
        return run_command(hook.command, variables, event=event, timeout=hook.timeout,
                           retries=hook.retries, backoff=hook.backoff, sleep=sleep)
    url = hook.url or ""
    secret = secrets.get(hook.secret_env or "")
    if not secret:
        return HookResult(url, event, False, [Attempt(
            1, False, None, f"the secret variable {hook.secret_env} is not set", 0.0)])
    return call_http(url, payload, secret=secret, event=event, delivery=delivery,
                     timeout=hook.timeout, retries=hook.retries, backoff=hook.backoff,
                     sleep=sleep)
