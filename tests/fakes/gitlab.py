"""A fake GitLab REST API v4 for the real python-gitlab client.

Serves what deploy enrichment uses: a project's commit (by full or unambiguous short sha), the
merge requests holding a commit, and notes on a merge request. Projects are addressed by id or
by URL-encoded path, as GitLab does. ``PRIVATE-TOKEN`` auth (anything else: 401 ``{"message":
"401 Unauthorized"}``), GitLab's 404 shapes (``404 Project Not Found``, ``404 Commit Not
Found``, ``404 Not found``), 400 for an empty note, pagination headers on lists. Every call is
recorded (``calls``).

    with FakeGitLab() as gl:
        gl.add_commit(30, "root/app", SHA, "Add new file", merge_requests=(4,))
        client = gitlab.Gitlab(gl.url, private_token=gl.token)
"""

from __future__ import annotations

import hmac
import itertools
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.fakes.http import Call, FakeServer, Reply, json_reply

_ROUTE = re.compile(r"^/api/v4/projects/([^/]+)"
                    r"(?:/repository/commits/([^/]+)(/merge_requests)?"
                    r"|/merge_requests/(\d+)/notes)$")


@dataclass
class FakeProject:
    """A project: commit titles by sha, merge request iids by commit, notes by iid."""

    id: int
    path: str
    commits: dict[str, str] = field(default_factory=dict)
    merge_requests: dict[str, list[int]] = field(default_factory=dict)
    notes: dict[int, list[str]] = field(default_factory=dict)

    def commit(self, ref: str) -> str | None:
        if ref in self.commits:
            return ref
        found = [sha for sha in self.commits if len(ref) >= 7 and sha.startswith(ref)]
        return found[0] if len(found) == 1 else None


def _message(status: int, message: str) -> Reply:
    return json_reply({"message": message}, status)


class FakeGitLab(FakeServer):
    """GitLab's REST API v4 as python-gitlab sees it; see the module doc."""

    def __init__(self, *, token: str = "glpat-fake-token") -> None:
        super().__init__()
        self.token = token
        self.projects: dict[int, FakeProject] = {}
        self._ids = itertools.count(500)

    def add_commit(self, project_id: int, path: str, sha: str, title: str, *,
                   merge_requests: tuple[int, ...] = ()) -> None:
        with self._lock:
            project = self.projects.setdefault(project_id, FakeProject(project_id, path))
            project.commits[sha] = title
            project.merge_requests[sha] = list(merge_requests)
            for iid in merge_requests:
                project.notes.setdefault(iid, [])

    def notes(self, project_id: int, iid: int) -> list[str]:
        with self._lock:
            return list(self.projects[project_id].notes.get(iid, []))

    def not_found_body(self, call: Call) -> Any:
        return {"error": "404 Not Found"}

    def handle(self, call: Call) -> Reply:
        if not hmac.compare_digest(call.headers.get("private-token", "").encode(),
                                   self.token.encode()):
            return _message(401, "401 Unauthorized")
        match = _ROUTE.match(call.path)
        if match is None:
            return self.not_found(call)
        ref, sha, mrs, iid = match.groups()
        key = unquote(ref)
        with self._lock:
            project = next((p for p in self.projects.values()
                            if key in (str(p.id), p.path)), None)
        if project is None:
            return _message(404, "404 Project Not Found")
        if sha is not None and call.method == "GET":
            full = project.commit(unquote(sha))
            if full is None:
                return _message(404, "404 Commit Not Found")
            if mrs:
                listed = [self._mr_json(project, n, full) for n in project.merge_requests[full]]
                return json_reply(listed, headers={
                    "X-Page": "1", "X-Per-Page": "20", "X-Total": str(len(listed)),
                    "X-Total-Pages": "1"})
            return json_reply(self._commit_json(project, full))
        if iid is not None and call.method == "POST":
            return self._note(project, int(iid), call)
        return self.not_found(call)

    def _commit_json(self, project: FakeProject, sha: str) -> dict[str, Any]:
        title = project.commits[sha]
        return {"id": sha, "short_id": sha[:8], "title": title, "message": title + "\n",
                "author_name": "Carol", "author_email": "carol@example.com",
                "authored_date": "2026-11-27T09:00:00.000+00:00", "committer_name": "Carol",
                "committer_email": "carol@example.com",
                "committed_date": "2026-11-27T09:00:00.000+00:00",
                "created_at": "2026-11-27T09:00:00.000+00:00", "parent_ids": [],
                "web_url": f"{self.url}/{project.path}/-/commit/{sha}", "trailers": {},
                "extended_trailers": {}}

    def _mr_json(self, project: FakeProject, iid: int, sha: str) -> dict[str, Any]:
        return {"id": 9000 + iid, "iid": iid, "project_id": project.id,
                "title": f"Merge request {iid}", "state": "merged", "sha": sha,
                "source_branch": "feature", "target_branch": "main",
                "web_url": f"{self.url}/{project.path}/-/merge_requests/{iid}"}

    def _note(self, project: FakeProject, iid: int, call: Call) -> Reply:
        if iid not in project.notes:
            return _message(404, "404 Not found")
        body = (call.json() or {}).get("body")
        if not isinstance(body, str) or not body.strip():
            return json_reply({"message": {"note": ["can't be blank"]}}, 400)
        note_id = next(self._ids)
        with self._lock:
            project.notes[iid].append(body)
        return json_reply({"id": note_id, "type": None, "body": body, "system": False,
                           "noteable_id": 9000 + iid, "noteable_type": "MergeRequest",
                           "noteable_iid": iid, "project_id": project.id,
                           "author": {"id": 99, "username": "finops-bot"},
                           "created_at": "2026-11-27T10:00:00.000Z"}, 201)
