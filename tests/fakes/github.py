"""A fake GitHub REST API (v3, under ``/api/v3`` as on GitHub Enterprise) for the real PyGithub.

Serves what deploy enrichment uses: a repository, a commit, the pull requests holding a commit,
and comments on a pull request (``POST .../issues/{n}/comments``). Token auth
(``Authorization: token ...`` or ``Bearer ...``; anything else: 401 ``Bad credentials``), GitHub's
error shape (``{"message", "documentation_url", "status"}``), 404 for unknown repositories,
commits and issues, 422 for an empty comment. Every call is recorded (``calls``).

    with FakeGitHub() as gh:
        gh.add_commit("octo/web", SHA, "Fix the login page\\n\\nDetails", pulls=(7,))
        client = Github(base_url=gh.api_url, auth=Auth.Token(gh.token), retry=None)
"""

from __future__ import annotations

import hmac
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.http import Call, FakeServer, Reply, json_reply

DOCS = "https://docs.github.com/rest"
_ROUTE = re.compile(r"^/api/v3/repos/([^/]+)/([^/]+)"
                    r"(?:/commits/([^/]+)(/pulls)?|/issues/(\d+)/comments)?$")


@dataclass
class FakeRepo:
    """A repository: commit messages by sha, pull requests by head commit, comments by PR."""

    full_name: str
    id: int
    commits: dict[str, str] = field(default_factory=dict)
    pulls: dict[str, list[int]] = field(default_factory=dict)
    comments: dict[int, list[str]] = field(default_factory=dict)


def _error(status: int, message: str) -> Reply:
    return json_reply({"message": message, "documentation_url": DOCS, "status": str(status)},
                      status)


class FakeGitHub(FakeServer):
    """GitHub's REST API as PyGithub sees it; see the module doc."""

    def __init__(self, *, token: str = "ghp-fake-token") -> None:
        super().__init__()
        self.token = token
        self.repos: dict[str, FakeRepo] = {}
        self._ids = itertools.count(1000)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v3"

    def add_commit(self, repo: str, sha: str, message: str, *,
                   pulls: tuple[int, ...] = ()) -> None:
        with self._lock:
            found = self.repos.setdefault(repo, FakeRepo(repo, next(self._ids)))
            found.commits[sha] = message
            found.pulls[sha] = list(pulls)
            for number in pulls:
                found.comments.setdefault(number, [])

    def comments(self, repo: str, number: int) -> list[str]:
        with self._lock:
            return list(self.repos[repo].comments.get(number, []))

    def not_found_body(self, call: Call) -> Any:
        return {"message": "Not Found", "documentation_url": DOCS, "status": "404"}

    def handle(self, call: Call) -> Reply:
        auth = call.headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        if scheme.lower() not in ("token", "bearer") or not hmac.compare_digest(
                given.encode(), self.token.encode()):
            return _error(401, "Bad credentials")
        match = _ROUTE.match(call.path)
        if match is None:
            return self.not_found(call)
        owner, name, sha, pulls, issue = match.groups()
        with self._lock:
            repo = self.repos.get(f"{owner}/{name}")
        if repo is None:
            return _error(404, "Not Found")
        if call.method == "GET" and sha is None and issue is None:
            return json_reply(self._repo_json(repo))
        if call.method == "GET" and sha is not None:
            if sha not in repo.commits:
                return _error(404, "Not Found")
            if pulls:
                return json_reply([self._pull_json(repo, n, sha) for n in repo.pulls[sha]])
            return json_reply(self._commit_json(repo, sha))
        if call.method == "POST" and issue is not None:
            return self._comment(repo, int(issue), call)
        return self.not_found(call)

    def _repo_json(self, repo: FakeRepo) -> dict[str, Any]:
        owner, name = repo.full_name.split("/", 1)
        return {"id": repo.id, "name": name, "full_name": repo.full_name, "private": False,
                "owner": {"login": owner, "id": 1, "type": "Organization"},
                "html_url": f"{self.url}/{repo.full_name}",
                "url": f"{self.api_url}/repos/{repo.full_name}", "default_branch": "main"}

    def _commit_json(self, repo: FakeRepo, sha: str) -> dict[str, Any]:
        base = f"{self.api_url}/repos/{repo.full_name}"
        person = {"name": "Carol", "email": "carol@example.com", "date": "2026-11-27T09:00:00Z"}
        return {"sha": sha, "node_id": f"C_{sha[:10]}", "url": f"{base}/commits/{sha}",
                "html_url": f"{self.url}/{repo.full_name}/commit/{sha}",
                "commit": {"message": repo.commits[sha], "author": person, "committer": person,
                           "url": f"{base}/git/commits/{sha}", "comment_count": 0,
                           "tree": {"sha": "0" * 40, "url": f"{base}/git/trees/{'0' * 40}"}},
                "author": None, "committer": None, "parents": [], "files": [],
                "stats": {"total": 0, "additions": 0, "deletions": 0}}

    def _pull_json(self, repo: FakeRepo, number: int, sha: str) -> dict[str, Any]:
        base = f"{self.api_url}/repos/{repo.full_name}"
        return {"id": 50_000 + number, "number": number, "state": "open",
                "title": f"Pull request {number}", "url": f"{base}/pulls/{number}",
                "html_url": f"{self.url}/{repo.full_name}/pull/{number}",
                "issue_url": f"{base}/issues/{number}", "head": {"sha": sha, "ref": "feature"},
                "base": {"ref": "main"}, "user": {"login": "carol", "id": 3}}

    def _comment(self, repo: FakeRepo, number: int, call: Call) -> Reply:
        if number not in repo.comments:
            return _error(404, "Not Found")
        body = (call.json() or {}).get("body")
        if not isinstance(body, str) or not body.strip():
            return json_reply({"message": "Validation Failed", "documentation_url": DOCS,
                               "status": "422", "errors": [{"resource": "IssueComment",
                                                            "code": "missing_field",
                                                            "field": "body"}]}, 422)
        comment_id = next(self._ids)
        with self._lock:
            repo.comments[number].append(body)
        base = f"{self.api_url}/repos/{repo.full_name}"
        return json_reply({"id": comment_id, "body": body,
                           "url": f"{base}/issues/comments/{comment_id}",
                           "html_url": f"{self.url}/{repo.full_name}/pull/{number}"
                                       f"#issuecomment-{comment_id}",
                           "issue_url": f"{base}/issues/{number}",
                           "user": {"login": "finops-bot", "id": 99, "type": "Bot"},
                           "created_at": "2026-11-27T10:00:00Z",
                           "updated_at": "2026-11-27T10:00:00Z"}, 201)
