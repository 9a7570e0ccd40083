"""The Slack Web API chat transport, on ``slack_sdk``'s WebClient.

Retries are the SDK's own handlers: HTTP 429 waits ``Retry-After`` then retries (up to
``max_rate_limit_retries``), HTTP 500/503 and connection errors back off exponentially from
``server_error_backoff`` seconds. The handlers share one attempt counter per request: each
retries only while the attempts so far are below its own maximum. What still fails is
translated at this boundary:

    invalid_auth, not_authed, account_inactive, token_revoked, token_expired -> ProviderAuthError
    ratelimited (retries used up)                                            -> ProviderThrottled
    users_not_found from users.lookupByEmail                                 -> None
    any other Slack error code, HTTP failure or network error                -> ProviderError

Messages are one line, name the method and the Slack error code, and never contain the token.
Each call is counted and timed as provider ``slack`` in ``bot.metrics``. The members of a user
group (``usergroups.users.list``, for admin checks) are kept for a few minutes.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.jitter import Jitter
from slack_sdk.webhook import WebhookClient

from bot import metrics
from bot.errors import ProviderAuthError, ProviderError, ProviderThrottled
from providers.chat import Block

AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _translate(method: str, exc: SlackApiError) -> ProviderError:
    response = exc.response
    data = response.data if isinstance(response.data, dict) else {}
    code = str(data.get("error") or f"HTTP {response.status_code}")
    if code in AUTH_ERRORS:
        return ProviderAuthError(f"Slack refused the bot token on {method}: {code}")
    if code == "ratelimited" or response.status_code == 429:
        retry_after = response.headers.get("Retry-After") or response.headers.get("retry-after")
        wait = f" (retry after {retry_after} s)" if retry_after else ""
        return ProviderThrottled(f"Slack rate-limited {method}{wait}")
    details = (data.get("response_metadata") or {}).get("messages") or []
    suffix = f": {'; '.join(str(d) for d in details)}" if details else ""
    if response.status_code >= 500:
        code = f"HTTP {response.status_code} {code}"
    return ProviderError(_one_line(f"Slack {method} failed: {code}{suffix}"))


class _ProportionalJitter(Jitter):
    """Up to +100 % of the interval (the SDK's default adds up to a whole second to each)."""

    def recalculate(self, duration: float) -> float:
        return duration * (1 + random.random())


@contextmanager
def _calling(method: str) -> Iterator[None]:
    with metrics.provider_call("slack", method), _translated(method):
        yield


@contextmanager
def _translated(method: str) -> Iterator[None]:
    try:
        yield
    except SlackApiError as exc:
        raise _translate(method, exc) from exc
    except (SlackClientError, URLError, OSError) as exc:
        # URLError/OSError cover the network and the raw upload POST; str(exc) holds no token
        raise ProviderError(_one_line(f"Slack {method} failed: {type(exc).__name__}: {exc}")) \
            from exc


class SlackTransport:
    """``ChatTransport`` over the Slack Web API (``base_url`` points it at another server)."""

    def __init__(self, token: str, *, base_url: str | None = None,
                 max_rate_limit_retries: int = 3, max_server_error_retries: int = 2,
                 server_error_backoff: float = 0.5, timeout: int = 30,
                 group_cache_seconds: float = 300,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        backoff = BackoffRetryIntervalCalculator(backoff_factor=server_error_backoff,
                                                 jitter=_ProportionalJitter())
        self._retry_handlers: list[RetryHandler] = [
            ConnectionErrorRetryHandler(max_retry_count=1, interval_calculator=backoff),
            # waits Retry-After (+ up to 1 s of jitter) as Slack asks
            RateLimitErrorRetryHandler(max_retry_count=max_rate_limit_retries),
            ServerErrorRetryHandler(max_retry_count=max_server_error_retries,
                                    interval_calculator=backoff),
        ]
        kwargs: dict[str, Any] = {"token": token, "timeout": timeout,
                                  "retry_handlers": self._retry_handlers}
        if base_url:
            # the SDK joins method names with urljoin: without the slash "api" would be dropped
            kwargs["base_url"] = base_url if base_url.endswith("/") else base_url + "/"
        self._timeout = timeout
        self.client = WebClient(**kwargs)
        # user group id -> (monotonic expiry, member ids): admin checks ask on every command
        self._groups: dict[str, tuple[float, list[str]]] = {}
        self._groups_lock = threading.Lock()
        self._group_cache_seconds = group_cache_seconds
        self._monotonic = monotonic

    def post(self, channel: str, text: str, blocks: list[Block] | None = None, *,
             thread_ts: str | None = None) -> str:
        with _calling("chat.postMessage"):
            response = self.client.chat_postMessage(channel=channel, text=text, blocks=blocks,
                                                    thread_ts=thread_ts)
        return str(response["ts"])

    def post_ephemeral(self, channel: str, user: str, text: str,
                       blocks: list[Block] | None = None) -> None:
        with _calling("chat.postEphemeral"):
            self.client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)

    def open_dm(self, user_id: str) -> str:
        with _calling("conversations.open"):
            opened = self.client.conversations_open(users=user_id)
        return str(opened["channel"]["id"])

    def dm(self, user_id: str, text: str, blocks: list[Block] | None = None) -> str:
        return self.post(self.open_dm(user_id), text, blocks)

    def upload_file(self, channel: str, filename: str, content: bytes, title: str,
                    comment: str = "") -> str:
        with _calling("files.upload"):
            response = self.client.files_upload_v2(
                channel=channel, filename=filename, content=content, title=title,
                initial_comment=comment or None,
            )
        return str(response["files"][0]["id"])

    def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        with _calling("views.publish"):
            self.client.views_publish(user_id=user_id, view=view)

    def lookup_user_by_email(self, email: str) -> str | None:
        with _calling("users.lookupByEmail"):
            try:
                response = self.client.users_lookupByEmail(email=email)
            except SlackApiError as exc:
                if exc.response.get("error") == "users_not_found":
                    return None
                raise
        return str(response["user"]["id"])

    def respond(self, response_url: str, payload: dict[str, Any]) -> None:
        webhook = WebhookClient(response_url, timeout=self._timeout,
                                retry_handlers=self._retry_handlers)
        with _calling("response_url"):
            response = webhook.send_dict(payload)
        if response.status_code == 429:
            raise ProviderThrottled("Slack rate-limited response_url")
        if response.status_code != 200:
            raise ProviderError(_one_line(
                f"Slack response_url failed: HTTP {response.status_code} {response.body}"))

    def usergroup_members(self, group_id: str) -> list[str]:
        """Member ids from ``usergroups.users.list``, kept for ``group_cache_seconds``."""
        with self._groups_lock:
            cached = self._groups.get(group_id)
            if cached is not None and cached[0] > self._monotonic():
                return list(cached[1])
        with _calling("usergroups.users.list"):
            response = self.client.usergroups_users_list(usergroup=group_id)
        members = [str(user) for user in response.get("users") or []]
        with self._groups_lock:
            self._groups[group_id] = (self._monotonic() + self._group_cache_seconds, members)
        return list(members)
