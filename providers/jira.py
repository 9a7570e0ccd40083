"""Jira through the ``jira`` client: comments on linked issues, issue status, transitions.

The client connects lazily, on the first call (``GET /rest/api/2/serverInfo``), so a Jira that
is down does not stop the bot from starting. Errors are translated at this boundary:

    HTTP 401, 403                               -> ProviderAuthError
    HTTP 404 (no such issue, or not visible)    -> ResourceGone
    HTTP 429                                    -> ProviderThrottled
    HTTP 503, Jira not reached (no connection)  -> ProviderUnavailable
    any other HTTP error, network error         -> ProviderError

Messages name the call, the issue and Jira's own error text, never the credentials (the
client's own exception text includes the request headers, so it is not used).

Retries are ours, not the client's. A call Jira does not take (HTTP 429 or 503; for a read,
also a broken connection or a timeout; for a comment or a transition, only a connection that
was never made, so nothing is done twice) is tried again after a short pause, ``max_retries``
times. The
client's own retries wait 20, 40 and 60 seconds: an unreachable Jira held each booking effect,
and the thread running it, for about a minute and a half. Now it fails within seconds
(connecting times out after 3 s) and the effect records the failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

import requests
from jira import JIRA, JIRAError
from urllib3.exceptions import NewConnectionError

from bot.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderThrottled,
    ProviderUnavailable,
    ResourceGone,
)

T = TypeVar("T")
CONNECT_TIMEOUT = 3.05  # seconds to connect: a Jira that is down is known within seconds
RETRY_PAUSE = 0.5  # seconds before the first retry of a call Jira did not answer; doubling


@runtime_checkable
class TicketClient(Protocol):
    """What the bot asks of a ticket system."""

    def add_comment(self, key: str, body: str) -> str:
        """Comment on issue ``key``; returns the comment id."""
        ...

    def status(self, key: str) -> tuple[str, str]:
        """The issue's status name and status category key (``new``, ``indeterminate``,
        ``done``)."""
        ...

    def transition(self, key: str, name: str) -> None:
        """Move the issue through the transition called ``name``."""
        ...


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _not_reached(exc: requests.RequestException) -> bool:
    """No connection was made (refused, unresolvable, timed out connecting): nothing was sent.
    A connection broken or timing out later may have delivered the request."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, NewConnectionError)


def _translated(what: str, exc: JIRAError | requests.RequestException) -> ProviderError:
    if isinstance(exc, requests.RequestException):
        kind = ProviderUnavailable if _not_reached(exc) else ProviderError
        return kind(_one_line(f"Jira {what} failed: {type(exc).__name__}"))
    status = exc.status_code or 0
    detail = _one_line(str(exc.text or "")) or f"HTTP {status}"
    message = f"Jira {what} failed: HTTP {status} {detail}" if status else \
        f"Jira {what} failed: {detail}"
    if status in (401, 403):
        return ProviderAuthError(message)
    if status == 404:
        return ResourceGone(message)
    if status == 429:
        return ProviderThrottled(message)
    if status == 503:
        return ProviderUnavailable(message)
    return ProviderError(message)


def _worth_retrying(exc: JIRAError | requests.RequestException, *, idempotent: bool) -> bool:
    """Jira did not take the call (busy, or not reached): worth another try. A call that
    changes something is tried again only when it surely did not reach Jira: a retried
    comment that Jira had taken would be posted twice."""
    if isinstance(exc, JIRAError):
        return exc.status_code in (429, 503)
    return idempotent or _not_reached(exc)


class JiraClient:
    """``TicketClient`` over the Jira REST API v2 (Server/Data Center and Cloud)."""

    def __init__(self, url: str, user: str, token: str, *, timeout: float = 10.0,
                 max_retries: int = 3) -> None:
        self.url = url.rstrip("/")
        self._auth = (user, token)
        self._timeout = (CONNECT_TIMEOUT, timeout)
        self._pauses = [RETRY_PAUSE * 2**n for n in range(max_retries)]
        self._client: JIRA | None = None
        self._lock = threading.Lock()

    def _call(self, what: str, call: Callable[[], T], *, idempotent: bool = True) -> T:
        """``call``, tried again after a pause while Jira does not take it; errors
        translated."""
        for pause in (*self._pauses, None):
            try:
                return call()
            except (JIRAError, requests.RequestException) as exc:
                if pause is None or not _worth_retrying(exc, idempotent=idempotent):
                    raise _translated(what, exc) from exc
            time.sleep(pause)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _jira(self) -> JIRA:
        with self._lock:
            if self._client is None:
                self._client = self._call("serverInfo", lambda: JIRA(
                    server=self.url, basic_auth=self._auth, get_server_info=True,
                    max_retries=0, timeout=self._timeout, logging=False))
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def add_comment(self, key: str, body: str) -> str:
        client = self._jira()
        comment: Any = self._call(f"comment on {key}", lambda: client.add_comment(key, body),
                                  idempotent=False)
        return str(comment.id)

    def status(self, key: str) -> tuple[str, str]:
        client = self._jira()
        issue: Any = self._call(f"issue {key}", lambda: client.issue(key, fields="status"))
        status = issue.fields.status
        return str(status.name), str(status.statusCategory.key)

    def transition(self, key: str, name: str) -> None:
        client = self._jira()
        self._call(f"transition {key} to {name!r}", lambda: client.transition_issue(key, name),
                   idempotent=False)
