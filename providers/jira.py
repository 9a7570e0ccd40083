"""Jira through the ``jira`` client: comments on linked issues, issue status, transitions.

The client connects lazily, on the first call (``GET /rest/api/2/serverInfo``), so a Jira that
is down does not stop the bot from starting. Errors are translated at this boundary:

    HTTP 401, 403                               -> ProviderAuthError
    HTTP 404 (no such issue, or not visible)    -> ResourceGone
    HTTP 429                                    -> ProviderThrottled
    any other HTTP error, network error         -> ProviderError

Messages name the call, the issue and Jira's own error text, never the credentials (the
client's own exception text includes the request headers, so it is not used).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

import requests
from jira import JIRA, JIRAError

from bot.errors import ProviderAuthError, ProviderError, ProviderThrottled, ResourceGone


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


@contextmanager
def _calling(what: str) -> Iterator[None]:
    try:
        yield
    except JIRAError as exc:
        status = exc.status_code or 0
        detail = _one_line(str(exc.text or "")) or f"HTTP {status}"
        message = f"Jira {what} failed: HTTP {status} {detail}" if status else \
            f"Jira {what} failed: {detail}"
        if status in (401, 403):
            raise ProviderAuthError(message) from exc
        if status == 404:
            raise ResourceGone(message) from exc
        if status == 429:
            raise ProviderThrottled(message) from exc
        raise ProviderError(message) from exc
    except requests.RequestException as exc:
        raise ProviderError(_one_line(f"Jira {what} failed: {type(exc).__name__}")) from exc


class JiraClient:
    """``TicketClient`` over the Jira REST API v2 (Server/Data Center and Cloud)."""

    def __init__(self, url: str, user: str, token: str, *, timeout: float = 10.0,
                 max_retries: int = 3) -> None:
        self.url = url.rstrip("/")
        self._auth = (user, token)
        self._timeout = timeout
        self._max_retries = max_retries
        self._client: JIRA | None = None
        self._lock = threading.Lock()

    def _jira(self) -> JIRA:
        with self._lock:
            if self._client is None:
                with _calling("serverInfo"):
                    self._client = JIRA(server=self.url, basic_auth=self._auth,
                                        get_server_info=True, max_retries=self._max_retries,
                                        timeout=self._timeout, logging=False)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def add_comment(self, key: str, body: str) -> str:
        client = self._jira()
        with _calling(f"comment on {key}"):
            comment: Any = client.add_comment(key, body)
        return str(comment.id)

    def status(self, key: str) -> tuple[str, str]:
        client = self._jira()
        with _calling(f"issue {key}"):
            issue: Any = client.issue(key, fields="status")
        status = issue.fields.status
        return str(status.name), str(status.statusCategory.key)

    def transition(self, key: str, name: str) -> None:
        client = self._jira()
        with _calling(f"transition {key} to {name!r}"):
            client.transition_issue(key, name)
