"""The deploy webhook parsers on real payloads (tests/data/webhooks), and their edges."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot import deploy_parsers as parse
from bot.config import parse_config
from bot.config_sections import DeploysConfig
from bot.deploy_parsers import DeployReport, Ignored, next_status, parse_time
from bot.errors import ConfigError, InputError

DATA = Path(__file__).parents[1] / "data" / "webhooks"
CONFIG = DeploysConfig(users={"Codertocat": "carol@example.com"},
                       github_workflows={"test.yml": "qa"})


def _load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((DATA / name).read_text())
    return payload


def _report(parsed: parse.Parsed) -> DeployReport:
    assert isinstance(parsed, DeployReport), parsed
    return parsed


def test_github_deployment_is_a_pending_deploy() -> None:
    report = _report(parse.github("deployment", _load("github/deployment.json"), CONFIG))
    assert report.external_id == "Codertocat/Hello-World/deployments/145988746"
    assert (report.env, report.status, report.ref) == ("production", "pending", "master")
    assert report.sha == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    assert (report.deployer, report.deployer_email) == ("Codertocat", "carol@example.com")
    assert report.url == "https://github.com/Codertocat/Hello-World/deployments"
    assert report.commit_url == ("https://github.com/Codertocat/Hello-World/commit/"
                                 "f95f852bd8fca8fcc58a9a2d6c842781e32a215e")
    assert report.started_at == datetime(2019, 5, 15, 15, 20, 53, tzinfo=UTC)


def test_github_deployment_status_is_the_same_deploy_with_its_state() -> None:
    created = _report(parse.github("deployment", _load("github/deployment.json"), CONFIG))
    status = _report(parse.github("deployment_status", _load("github/deployment_status.json"),
                                  CONFIG))
    assert status.external_id == created.external_id
    assert status.status == "success" and status.final


@pytest.mark.parametrize(("state", "expected"), [("in_progress", "running"),
                                                 ("queued", "queued"), ("error", "error"),
                                                 ("inactive", "inactive")])
def test_github_states_are_normalised(state: str, expected: str) -> None:
    payload = _load("github/deployment_status.json")
    payload["deployment_status"]["state"] = state
    assert _report(parse.github("deployment_status", payload, CONFIG)).status == expected


def test_workflow_runs_count_only_for_configured_workflows() -> None:
    payload = _load("github/workflow_run.json")
    report = _report(parse.github("workflow_run", payload, CONFIG))
    assert (report.env, report.status) == ("qa", "success")
    assert report.sha == "3484a3fb816e0859fd6e1cea078d76385ff50625"
    assert report.external_id == "octo-org/octo-repo/runs/289782451/1"
    assert report.url == "https://github.com/octo-org/octo-repo/actions/runs/289782451"
    assert isinstance(parse.github("workflow_run", payload, DeploysConfig()), Ignored)
    payload["action"], payload["workflow_run"]["status"] = "requested", "queued"
    assert _report(parse.github("workflow_run", payload, CONFIG)).status == "queued"


def test_events_that_are_not_deploys_are_ignored() -> None:
    assert parse.github("star", _load("github/star.json"), CONFIG) == Ignored(
        "event star is not a deploy")
    assert isinstance(parse.github("ping", {"zen": "Keep it logically awesome."}, CONFIG),
                      Ignored)
    assert isinstance(parse.gitlab("Push Hook", {"object_kind": "push"}, CONFIG), Ignored)


def test_malformed_github_deploys_are_input_errors() -> None:
    payload = _load("github/deployment_status.json")
    with pytest.raises(InputError, match="`id` is missing or not a whole number$"):
        parse.github("deployment_status", dict(payload, deployment={"id": "x"}), CONFIG)
    payload["deployment_status"]["state"] = "exploded"
    with pytest.raises(InputError, match="state"):
        parse.github("deployment_status", payload, CONFIG)
    with pytest.raises(InputError, match="deployment"):
        parse.github("deployment", {}, CONFIG)


def test_gitlab_deployment_hook() -> None:
    report = _report(parse.gitlab("Deployment Hook", _load("gitlab/deployment_success.json"),
                                  CONFIG))
    assert report.external_id == "root/test-deployment-webhooks/deployments/15"
    assert (report.env, report.status) == ("staging", "success")
    assert report.sha == "279484c09fbe69ededfced8c1bb6e6d24616b468"  # from commit_url
    assert (report.deployer, report.deployer_email) == ("root", "admin@example.com")
    assert report.title == "Add new file"
    assert report.environment_url == "https://staging.example.com"
    assert report.started_at == datetime(2021, 4, 28, 19, 50, tzinfo=UTC)


def test_gitlab_statuses_redacted_emails_and_short_shas() -> None:
    payload = _load("gitlab/deployment_success.json")
    payload.update(status="failed", commit_url=None)
    payload["user"]["email"] = "[REDACTED]"
    report = _report(parse.gitlab("Deployment Hook", payload, CONFIG))
    assert (report.status, report.sha, report.deployer_email) == ("failure", "279484c0", None)
    payload["status"] = "exploded"
    with pytest.raises(InputError, match="status"):
        parse.gitlab("Deployment Hook", payload, CONFIG)
    with pytest.raises(InputError, match="environment"):
        parse.gitlab("Deployment Hook", dict(payload, status="running", environment=""), CONFIG)


def test_jenkins_phases_are_one_deploy() -> None:
    started, completed, finalized = (
        _report(parse.jenkins(_load(f"jenkins/{p}.json"), CONFIG))
        for p in ("started", "completed", "finalized"))
    assert started.external_id == completed.external_id == finalized.external_id
    assert (started.status, completed.status, finalized.status) == (
        "running", "failure", "failure")
    assert (started.env, started.version, started.ref) == ("qa", "1.4.2", "main")
    assert started.deployer_email == "carol@example.com"
    assert started.started_at == datetime(2025, 11, 27, 10, 0, tzinfo=UTC)
    assert parse.jenkins_delivery(_load("jenkins/completed.json")) == "deploy-web#42#COMPLETED"


def test_jenkins_environment_from_the_job_name_and_what_is_ignored() -> None:
    payload = _load("jenkins/completed.json")
    payload["build"]["parameters"] = {}
    assert parse.jenkins(payload, CONFIG) == Ignored("job deploy-web names no environment")
    by_name = DeploysConfig(jenkins_job_pattern=r"^deploy-(?P<env>[\w-]+)$")
    assert _report(parse.jenkins(payload, by_name)).env == "web"
    assert _report(parse.jenkins(payload, by_name)).deployer == "carol"  # the culprit
    payload["build"]["phase"] = "QUEUED"
    assert isinstance(parse.jenkins(payload, by_name), Ignored)
    for status, expected in (("ABORTED", "canceled"), ("UNSTABLE", "failure"),
                             ("SUCCESS", "success")):
        payload["build"].update(phase="FINALIZED", status=status)
        assert _report(parse.jenkins(payload, by_name)).status == expected
    with pytest.raises(InputError, match="number"):
        parse.jenkins({"name": "deploy-web", "build": {"phase": "STARTED"}}, CONFIG)
    with pytest.raises(InputError, match="`name` is missing or not a string$"):
        parse.jenkins({"name": 5, "build": {"phase": "STARTED"}}, CONFIG)


def test_a_finished_deploy_never_goes_back() -> None:
    assert next_status("running", "success") == "success"
    assert next_status("success", "running") == "success"
    assert next_status("success", "inactive") == "success"
    assert next_status("failure", "success") == "success"  # FINALIZED may differ
    assert next_status("pending", "queued") == "queued"


def test_times_of_every_source() -> None:
    assert parse_time("2019-05-15T15:20:55Z") == datetime(2019, 5, 15, 15, 20, 55, tzinfo=UTC)
    assert parse_time("2021-04-28 21:50:00 +0200") == datetime(2021, 4, 28, 19, 50, tzinfo=UTC)
    assert parse_time(1764237600000) == datetime(2025, 11, 27, 10, 0, tzinfo=UTC)
    assert parse_time("yesterday") is None and parse_time(None) is None


def test_deploy_config_is_checked_when_loaded() -> None:
    with pytest.raises(ConfigError, match="group named env"):
        parse_config("deploys: {jenkins_job_pattern: '^deploy-(.+)$'}", source="c.yaml")
    with pytest.raises(ConfigError, match="names two environments"):
        parse_config("environments: [{name: a, deploy_names: [x]}, {name: b, deploy_names: [x]}]",
                     source="c.yaml")
    config = parse_config("environments: [{name: staging-1, deploy_names: [staging]}]",
                          source="c.yaml")
    target = config.deploy_target("staging")
    assert target is not None and target.name == "staging-1"
    assert config.deploy_target("production") is None
