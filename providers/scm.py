"""Source-control hosts, for deploys: a commit's title, the PRs / MRs that hold a commit, and a
comment on one of them.

GitHub through PyGithub, GitLab through python-gitlab, each imported when first built. Base URLs
come from the config (``deploys.github_api_url``, GitHub Enterprise: ``https://HOST/api/v3``) and
``GITLAB_URL``: the seam tests point at loopback fakes. Nothing connects until the first call.
Errors are translated at this boundary:

    a commit that does not exist (404)          -> None from ``commit_title``
    HTTP 401, 403                               -> ProviderAuthError
    HTTP 429, GitHub's rate limit               -> ProviderThrottled
    any other HTTP error, network error         -> ProviderError

Messages name the call and the repository, never the token.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

import requests

from bot.errors import ProviderAuthError, ProviderError, ProviderThrottled

MAX_CHANGE_REQUESTS = 5  # a commit in more open PRs than this gets comments on the first five


@runtime_checkable
class ScmClient(Protocol):
    """What deploy tracking asks of a source-control host."""

    def commit_title(self, repo: str, sha: str) -> str | None:
        """The first line of the commit's message; None when the commit does not exist."""
        ...

    def change_requests(self, repo: str, sha: str) -> list[int]:
        """Numbers of the pull / merge requests that contain the commit (at most a few)."""
        ...

    def comment(self, repo: str, number: int, body: str) -> str:
        """Comment on pull / merge request ``number``; returns the comment id."""
        ...


def _raise(what: str, status: int, detail: str, exc: Exception) -> None:
    message = f"{what} failed: HTTP {status} {detail}".strip()
    if status in (401, 403) and "rate limit" not in detail.lower():
        raise ProviderAuthError(message) from exc
    if status in (403, 429):
        raise ProviderThrottled(message) from exc
    raise ProviderError(message) from exc


class GitHubClient:
    """``ScmClient`` over the GitHub REST API (github.com or GitHub Enterprise)."""

    def __init__(self, token: str, *, base_url: str = "https://api.github.com",
                 timeout: int = 10, retry: bool = True, pause: float | None = None) -> None:
        from github import Auth, Github

        options: dict[str, Any] = {} if pause is None else {
            "seconds_between_requests": pause, "seconds_between_writes": pause}
        if not retry:
            options["retry"] = None
        self._github = Github(base_url=base_url, auth=Auth.Token(token), timeout=timeout,
                              lazy=True, **options)

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        from github import GithubException

        try:
            yield
        except GithubException as exc:
            data = exc.data if isinstance(exc.data, dict) else {}
            _raise(f"GitHub {what}", exc.status, str(data.get("message") or ""), exc)
        except requests.RequestException as exc:
            raise ProviderError(f"GitHub {what} failed: {type(exc).__name__}") from exc

    def commit_title(self, repo: str, sha: str) -> str | None:
        from github import UnknownObjectException

        with self._calling(f"commit {sha[:12]} of {repo}"):
            try:
                message = self._github.get_repo(repo).get_commit(sha).commit.message
            except UnknownObjectException:
                return None
        return (message or "").strip().splitlines()[0] if message and message.strip() else ""

    def change_requests(self, repo: str, sha: str) -> list[int]:
        numbers: list[int] = []
        with self._calling(f"pull requests of {sha[:12]} in {repo}"):
            for pull in self._github.get_repo(repo).get_commit(sha).get_pulls():
                numbers.append(int(pull.number))
                if len(numbers) == MAX_CHANGE_REQUESTS:
                    break
        return numbers

    def comment(self, repo: str, number: int, body: str) -> str:
        with self._calling(f"comment on {repo}#{number}"):
            created = self._github.get_repo(repo).get_issue(number).create_comment(body)
        return str(created.id)


class GitLabClient:
    """``ScmClient`` over the GitLab REST API v4 (``GITLAB_URL``, a personal/project token)."""

    def __init__(self, url: str, token: str, *, timeout: float = 10.0,
                 retry: bool = True) -> None:
        import gitlab

        self._gitlab = gitlab.Gitlab(url, private_token=token, timeout=timeout,
                                     retry_transient_errors=retry)

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        from gitlab.exceptions import GitlabError

        try:
            yield
        except GitlabError as exc:
            _raise(f"GitLab {what}", int(exc.response_code or 0), str(exc.error_message), exc)
        except requests.RequestException as exc:
            raise ProviderError(f"GitLab {what} failed: {type(exc).__name__}") from exc

    def _project(self, repo: str) -> Any:
        return self._gitlab.projects.get(repo, lazy=True)

    def commit_title(self, repo: str, sha: str) -> str | None:
        from gitlab.exceptions import GitlabGetError

        with self._calling(f"commit {sha[:12]} of {repo}"):
            try:
                commit = self._project(repo).commits.get(sha)
            except GitlabGetError as exc:
                if exc.response_code == 404:
                    return None
                raise
        return str(getattr(commit, "title", "") or "")

    def change_requests(self, repo: str, sha: str) -> list[int]:
        with self._calling(f"merge requests of {sha[:12]} in {repo}"):
            found = self._project(repo).commits.get(sha, lazy=True).merge_requests(get_all=False)
        return [int(mr["iid"]) for mr in list(found)[:MAX_CHANGE_REQUESTS]]

    def comment(self, repo: str, number: int, body: str) -> str:
        with self._calling(f"comment on {repo}!{number}"):
            note = self._project(repo).mergerequests.get(number, lazy=True).notes.create(
                {"body": body})
        return str(note.id)
