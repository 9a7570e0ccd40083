"""Deploy tracking end to end: real GitHub, GitLab and Jenkins payloads, signed as each sender
signs them, into the real app; the fake Slack, GitHub and GitLab behind it; a real database."""

from __future__ import annotations

import base64
import json

import httpx

from app import build_asgi
from bot import deploy_parsers
from bot.deploys import receive
from bot.deploys_effects import run_deploy_effects
from bot.jobs import run_job
from bot.services import Services
from providers.scm import GitHubClient
from tests.fakes.github import FakeGitHub
from tests.fakes.gitlab import FakeGitLab
from tests.fakes.slack import FakeSlack
from tests.scenario import deploys_harness as harness
from tests.scenario.deploys_harness import (
    CHANNEL,
    GITHUB_SECRET,
    GITHUB_SHA,
    GITLAB_SHA,
    JENKINS_SHA,
    JENKINS_TOKEN,
    Sender,
    book,
    counts,
    settle,
    stored_deploys,
    texts,
    wait,
    webhook,
)
from tests.scenario.harness import SlackClientSim, failing, github_headers, serve

# the deploy fixtures, bound here so that pytest finds them
fake_github = harness.fake_github
fake_gitlab = harness.fake_gitlab
configured = harness.configured
send = harness.send


def test_each_source_lands_in_the_environment_history(send: Sender, configured: Services,
                                                      fake_slack: FakeSlack) -> None:
    status = webhook("github/deployment_status.json")
    assert send.github(status, event="deployment_status", delivery="d-1").json()[
        "status"] == "ok"
    gitlab = send.gitlab(webhook("gitlab/deployment_success.json"), uuid="u-1")
    assert gitlab.status_code == 200 and gitlab.json()["environment"] == "staging-2"
    run = send.github(webhook("github/workflow_run.json"), event="workflow_run", delivery="d-2")
    assert run.json()["environment"] == "qa"
    for phase in ("started", "completed", "finalized"):
        assert send.jenkins(webhook(f"jenkins/{phase}.json")).status_code == 200
    settle(configured)

    rows = {(r.source, r.env): r for r in stored_deploys(configured)}
    assert len(rows) == 4
    github = rows[("github", "production")]
    assert (github.sha, github.status, github.known_env) == (GITHUB_SHA, "success", False)
    assert (github.deployer, github.deployer_email, github.ref) == (
        "Codertocat", "carol@example.com", "master")
    assert github.repo == "Codertocat/Hello-World"
    assert github.title == "Deploy the new greeting"  # fetched from the fake GitHub
    gitlab_row = rows[("gitlab", "staging-2")]
    assert (gitlab_row.sha, gitlab_row.status, gitlab_row.env_given) == (
        GITLAB_SHA, "success", "staging")
    assert gitlab_row.url == "http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796"
    assert gitlab_row.title == "Add new file" and gitlab_row.deployer_email == "admin@example.com"
    workflow = rows[("github", "qa")]
    assert (workflow.sha, workflow.status) == ("3484a3fb816e0859fd6e1cea078d76385ff50625",
                                               "success")
    jenkins = rows[("jenkins", "qa")]  # one row for the three phases
    assert (jenkins.sha, jenkins.status, jenkins.version, jenkins.ref) == (
        JENKINS_SHA, "failure", "1.4.2", "main")
    assert jenkins.url == "http://jenkins.example.com:8080/job/deploy-web/42/"

    # the environments' channel got one line per finished deploy into a known environment
    assert len(texts(fake_slack, CHANNEL, "staging-2: success")) == 1
    assert len(texts(fake_slack, CHANNEL, "qa: failure")) == 1
    assert not texts(fake_slack, CHANNEL, "production")


def test_env_shows_deploys_and_admins_see_unknown_environments(
        send: Sender, configured: Services, fake_slack: FakeSlack) -> None:
    send.gitlab(webhook("gitlab/deployment_success.json"), uuid="u-1")
    send.github(webhook("github/deployment_status.json"), event="deployment_status",
                delivery="d-1")
    settle(configured)
    sim = SlackClientSim(send.base_url)

    def ask(text: str, user: str) -> str:
        url = fake_slack.response_url()
        assert sim.command(text, user_id=user, response_url=url).status_code == 200
        reply = wait(lambda: next((r for r in fake_slack.replies if r.url == url), None))
        return json.dumps(reply.payload["blocks"])

    card = ask("env staging-2", "U0BOB")
    assert "`279484c`" in card and "root" in card and "no deploys recorded" not in card
    assert "Current version*\\n`279484c`" in card and "Add new file" in card
    assert "production" in ask("envs", "U0ALICE")  # alice is an admin
    assert "production" not in ask("envs", "U0BOB")
    sim.close()


def test_forged_replayed_and_malformed_requests_change_nothing(send: Sender,
                                                               configured: Services) -> None:
    payload = webhook("github/deployment_status.json")
    body = json.dumps(payload).encode()
    assert send.github(body, event="deployment_status", delivery="x", secret="wrong"
                       ).status_code == 401
    unsigned = httpx.post(f"{send.base_url}/webhooks/github", content=body,
                          headers={"X-GitHub-Event": "deployment_status"}, timeout=10)
    assert unsigned.status_code == 401
    assert send.github(b"{not json", event="deployment_status", delivery="x").status_code == 400
    broken = dict(payload, deployment={"id": "seven"})
    assert send.github(broken, event="deployment_status", delivery="x").status_code == 400
    no_event = httpx.post(f"{send.base_url}/webhooks/github", content=body, timeout=10,
                          headers={k: v for k, v in github_headers(
                              body, secret=GITHUB_SECRET, event="x", delivery="x").items()
                              if k != "X-GitHub-Event"})
    assert no_event.status_code == 400
    huge = json.dumps(dict(payload, padding="x" * 1_100_000)).encode()
    assert send.github(huge, event="deployment_status", delivery="x").status_code == 413

    gitlab = webhook("gitlab/deployment_success.json")
    assert send.gitlab(gitlab, uuid="g", token="guess").status_code == 401
    assert send.gitlab({k: v for k, v in gitlab.items() if k != "deployment_id"},
                       uuid="g").status_code == 400
    jenkins = webhook("jenkins/completed.json")
    assert send.jenkins(jenkins, authorization="Bearer guess").status_code == 401
    assert send.jenkins(jenkins, authorization="").status_code == 401
    assert send.jenkins({"name": "deploy-web", "build": {"phase": "STARTED"}}
                        ).status_code == 400
    assert send.jenkins(b"[]").status_code == 400
    assert counts(configured) == (0, 0)

    star = send.github(webhook("github/star.json"), event="star", delivery="s-1")
    assert star.status_code == 200 and star.json()["status"] == "ignored"
    queued = json.loads(json.dumps(jenkins))
    queued["build"]["phase"] = "QUEUED"
    assert send.jenkins(queued).json()["status"] == "ignored"
    assert counts(configured) == (0, 0)


def test_webhooks_without_configured_secrets_are_refused(services: Services) -> None:
    with serve(build_asgi(services)) as base_url:  # no webhook secret or token set
        sender = Sender(base_url)
        assert sender.github(webhook("github/deployment.json"), event="deployment",
                             delivery="d").status_code == 401
        assert sender.gitlab(webhook("gitlab/deployment_success.json"), uuid="u").status_code \
            == 401
        assert sender.jenkins(webhook("jenkins/started.json")).status_code == 401
        sender.http.close()
    assert counts(services) == (0, 0)


def test_duplicates_are_recorded_once(send: Sender, configured: Services) -> None:
    payload = webhook("github/deployment.json")
    first = send.github(payload, event="deployment", delivery="dup-1")
    again = send.github(payload, event="deployment", delivery="dup-1")
    assert first.json()["status"] == "ok" and again.json()["status"] == "duplicate"
    gitlab = webhook("gitlab/deployment_success.json")
    assert send.gitlab(gitlab, uuid="same").json()["status"] == "ok"
    assert send.gitlab(gitlab, uuid="same").json()["status"] == "duplicate"
    started = webhook("jenkins/started.json")
    assert send.jenkins(started).json()["status"] == "ok"
    assert send.jenkins(started).json()["status"] == "duplicate"
    assert counts(configured) == (3, 3)
    settle(configured)


def test_a_webhook_that_finds_the_database_down_gets_503_and_its_retrycounts(
        send: Sender, configured: Services) -> None:
    payload = webhook("github/deployment.json")
    with failing(configured.engine, lambda sql: sql.startswith("INSERT INTO deploy")) as failed:
        down = send.github(payload, event="deployment", delivery="retry-1")
        gitlab = send.gitlab(webhook("gitlab/deployment_success.json"), uuid="retry-2")
    assert failed
    for response in (down, gitlab):
        assert response.status_code == 503 and response.headers["Retry-After"] == "30"
        assert response.json()["status"] == "database unavailable"
    assert counts(configured) == (0, 0)  # neither the deploy nor its delivery id was kept
    # the sender's retry, same delivery id, is recorded (not taken for a duplicate)
    assert send.github(payload, event="deployment", delivery="retry-1").json()["status"] == "ok"
    assert send.github(payload, event="deployment", delivery="retry-1").json()["status"] == (
        "duplicate")
    assert counts(configured) == (1, 1)
    settle(configured)


def test_deploys_into_a_booked_environment_warn_once(send: Sender, configured: Services,
                                                     fake_slack: FakeSlack,
                                                     fake_github: FakeGitHub) -> None:
    book(configured, "staging-1", "bob@example.com", "U0BOB")
    created = webhook("github/deployment.json")
    created["deployment"]["environment"] = "staging-1"
    status = webhook("github/deployment_status.json")
    status["deployment"]["environment"] = "staging-1"
    assert send.github(created, event="deployment", delivery="b-1").status_code == 200
    assert send.github(status, event="deployment_status", delivery="b-2").status_code == 200
    assert send.github(status, event="deployment_status", delivery="b-2").json()[
        "status"] == "duplicate"
    settle(configured)
    assert run_deploy_effects(configured) == 0  # nothing left to do, nothing sent again

    holder = texts(fake_slack, "D0BOB", "is deploying to staging-1")
    deployer = texts(fake_slack, "D0CAROL", "staging-1 is booked by bob@example.com")
    assert len(holder) == 1 and len(deployer) == 1
    warning = json.dumps([m.blocks for m in fake_slack.messages("D0BOB")])
    assert "<@U0CAROL>" in warning and "`f95f852`" in warning
    assert len(texts(fake_slack, CHANNEL, "staging-1: success")) == 1
    comments = fake_github.comments("Codertocat/Hello-World", 7)
    assert len(comments) == 1
    assert "**staging-1**" in comments[0] and "booked by bob@example.com" in comments[0]
    assert "OPS-7" in comments[0] and "$" in comments[0]


def test_a_failed_deploy_into_a_booked_environment_tells_the_holder_once(
        send: Sender, configured: Services, fake_slack: FakeSlack) -> None:
    book(configured, "qa", "alice@example.com", "U0ALICE")
    for phase in ("started", "completed", "finalized", "completed"):
        assert send.jenkins(webhook(f"jenkins/{phase}.json")).status_code == 200
    settle(configured)
    assert len(texts(fake_slack, "D0ALICE", "A deploy into qa failed")) == 1
    assert len(texts(fake_slack, "D0ALICE", "is deploying to qa")) == 1
    assert len(texts(fake_slack, "D0CAROL", "qa is booked by alice@example.com")) == 1


def test_the_holder_deploying_is_not_warned_and_late_phases_do_not_reopen(
        send: Sender, configured: Services, fake_slack: FakeSlack) -> None:
    book(configured, "qa", "carol@example.com", "U0CAROL")  # the Jenkins DEPLOYER
    assert send.jenkins(webhook("jenkins/completed.json")).status_code == 200
    assert send.jenkins(webhook("jenkins/started.json")).status_code == 200  # arrives late
    settle(configured)
    [row] = stored_deploys(configured)
    assert row.status == "failure" and row.finished_at is not None
    assert not texts(fake_slack, "D0CAROL", "is deploying")
    assert len(texts(fake_slack, "D0CAROL", "A deploy into qa failed")) == 1


def test_enrichment_survives_unknown_commits_and_bad_tokens(
        send: Sender, configured: Services, fake_gitlab: FakeGitLab,
        fake_github: FakeGitHub) -> None:
    payload = webhook("gitlab/deployment_success.json")
    payload.pop("commit_title")
    assert send.gitlab(payload, uuid="no-title").status_code == 200
    settle(configured)
    [row] = stored_deploys(configured)
    assert row.title == ""  # the fake GitLab has no such commit: 404, remembered
    assert fake_gitlab.calls_to("GET", "/repository/commits/")

    configured.scm["github"] = GitHubClient("revoked", base_url=fake_github.api_url,
                                            retry=False, pause=0)
    status = webhook("github/deployment_status.json")
    assert send.github(status, event="deployment_status", delivery="t-1").status_code == 200
    settle(configured)
    github = next(r for r in stored_deploys(configured) if r.source == "github")
    assert github.status == "success" and github.title is None  # recorded all the same


def test_a_failed_message_after_the_answer_leaves_the_deploy_recorded(
        send: Sender, configured: Services, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", error="channel_not_found")
    response = send.gitlab(webhook("gitlab/deployment_success.json"), uuid="slow")
    assert response.status_code == 200 and response.json()["pending_effects"] is True
    settle(configured)
    [row] = stored_deploys(configured)
    assert row.status == "success" and not row.effects_pending
    assert not texts(fake_slack, CHANNEL, "staging-2")  # the failure is recorded, not retried
    assert run_deploy_effects(configured) == 0


def test_jenkins_accepts_basic_auth_with_the_token_as_password(send: Sender,
                                                               configured: Services) -> None:
    basic = base64.b64encode(f"jenkins:{JENKINS_TOKEN}".encode()).decode()
    assert send.jenkins(webhook("jenkins/started.json"),
                        authorization=f"Basic {basic}").json()["status"] == "ok"
    wrong = base64.b64encode(b"jenkins:nope").decode()
    assert send.jenkins(webhook("jenkins/completed.json"),
                        authorization=f"Basic {wrong}").status_code == 401
    settle(configured)


def test_the_deploys_job_finishes_what_an_interrupted_answer_left(configured: Services,
                                                                  fake_slack: FakeSlack) -> None:
    report = deploy_parsers.gitlab("Deployment Hook", webhook("gitlab/deployment_success.json"),
                                   configured.config.deploys)
    assert isinstance(report, deploy_parsers.DeployReport)
    # recorded, and the process stopped before its after-the-answer work ran
    assert receive(configured, source="gitlab", delivery="u-9", report=report)[
        "pending_effects"] is True
    assert not texts(fake_slack, CHANNEL, "staging-2")
    assert run_job(configured, "deploys") == "1 deploys' effects run"
    assert len(texts(fake_slack, CHANNEL, "staging-2: success")) == 1
    assert run_job(configured, "deploys") == "0 deploys' effects run"
    assert len(texts(fake_slack, CHANNEL, "staging-2: success")) == 1
