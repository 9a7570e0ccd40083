"""The real PyGithub and python-gitlab clients (providers/scm.py) against the loopback fakes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.errors import ProviderAuthError, ProviderError
from providers.scm import GitHubClient, GitLabClient, ScmClient
from tests.fakes.github import FakeGitHub
from tests.fakes.gitlab import FakeGitLab
from tests.fakes.http import json_reply

SHA = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
OTHER = "0" * 40


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_commit("octo/web", SHA, "Fix the login page\n\nThe long story.", pulls=(7, 9))
        yield fake
        fake.assert_clean()


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    with FakeGitLab() as fake:
        fake.add_commit(30, "root/app", SHA, "Add new file", merge_requests=(4,))
        yield fake
        fake.assert_clean()


def _github(fake: FakeGitHub, token: str | None = None) -> GitHubClient:
    return GitHubClient(token or fake.token, base_url=fake.api_url, retry=False, pause=0)


def _gitlab(fake: FakeGitLab, token: str | None = None) -> GitLabClient:
    return GitLabClient(fake.url, token or fake.token, retry=False)


def test_both_clients_implement_the_protocol(github: FakeGitHub, gitlab: FakeGitLab) -> None:
    assert isinstance(_github(github), ScmClient) and isinstance(_gitlab(gitlab), ScmClient)


def test_github_commit_title_pulls_and_comment(github: FakeGitHub) -> None:
    client = _github(github)
    assert client.commit_title("octo/web", SHA) == "Fix the login page"
    assert client.commit_title("octo/web", OTHER) is None  # 404: no such commit
    assert client.change_requests("octo/web", SHA) == [7, 9]
    comment_id = client.comment("octo/web", 7, "Deployed to **qa**.")
    assert comment_id and github.comments("octo/web", 7) == ["Deployed to **qa**."]
    [post] = github.calls_to("POST")
    assert post.path == "/api/v3/repos/octo/web/issues/7/comments"
    assert post.headers["authorization"] == f"token {github.token}"


def test_github_errors_are_translated(github: FakeGitHub) -> None:
    with pytest.raises(ProviderAuthError, match="Bad credentials"):
        _github(github, token="revoked").commit_title("octo/web", SHA)
    with pytest.raises(ProviderError, match="comment on octo/web#8"):
        _github(github).comment("octo/web", 8, "no such pull request")
    github.fail_next(json_reply({"message": "Server Error"}, 502), path_contains="/commits/")
    with pytest.raises(ProviderError, match="HTTP 502"):
        _github(github).commit_title("octo/web", SHA)


def test_gitlab_commit_title_merge_requests_and_note(gitlab: FakeGitLab) -> None:
    client = _gitlab(gitlab)
    assert client.commit_title("root/app", SHA) == "Add new file"
    assert client.commit_title("root/app", SHA[:8]) == "Add new file"  # a short sha
    assert client.commit_title("root/app", OTHER) is None
    assert client.change_requests("root/app", SHA) == [4]
    assert client.comment("root/app", 4, "Deployed to **qa**.")
    assert gitlab.notes(30, 4) == ["Deployed to **qa**."]
    [post] = gitlab.calls_to("POST")
    assert post.path == "/api/v4/projects/root%2Fapp/merge_requests/4/notes"


def test_gitlab_errors_are_translated(gitlab: FakeGitLab) -> None:
    with pytest.raises(ProviderAuthError, match="401"):
        _gitlab(gitlab, token="revoked").commit_title("root/app", SHA)
    with pytest.raises(ProviderError, match="Project Not Found"):
        _gitlab(gitlab).change_requests("nobody/nothing", SHA)
    with pytest.raises(ProviderError, match="comment on root/app!5"):
        _gitlab(gitlab).comment("root/app", 5, "no such merge request")


def test_an_unreachable_host_is_a_provider_error() -> None:
    with FakeGitHub() as fake:
        url, token = fake.api_url, fake.token
    with pytest.raises(ProviderError, match="ConnectionError"):
        GitHubClient(token, base_url=url, retry=False, pause=0).commit_title("octo/web", SHA)
