"""Deploy and Jira webhook bodies: a report, "ignored" or the documented InputError for any
JSON, however wrong its types; never a KeyError, TypeError or AttributeError."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from bot import deploy_parsers as parse
from bot.config_sections import DeploysConfig
from bot.deploy_parsers import DeployReport, Ignored, Parsed
from bot.errors import InputError
from bot.services import Services
from handlers.webhooks import handle
from tests.property import examples
from tests.property.conftest import row_counts
from tests.property.strategies import json_objects, json_values, load, mutated

CONFIGS = [
    DeploysConfig(),
    DeploysConfig(users={"Codertocat": "carol@example.com"},
                  github_workflows={"test.yml": "qa", "CI": "staging-1"},
                  jenkins_job_pattern=r"^deploy-(?P<env>.+)$", jenkins_env_parameter="TARGET"),
]
configs = st.sampled_from(CONFIGS)
github_events = st.sampled_from(["deployment", "deployment_status", "workflow_run", "star", ""])
SAMPLES = {
    "github": [("deployment", load("github/deployment.json")),
               ("deployment_status", load("github/deployment_status.json")),
               ("workflow_run", load("github/workflow_run.json")),
               ("star", load("github/star.json"))],
    "gitlab": [("Deployment Hook", load("gitlab/deployment_success.json"))],
    "jenkins": [("", load(f"jenkins/{name}.json")) for name in ("started", "completed",
                                                                 "finalized")],
}


def _check(parsed: Parsed) -> None:
    """What every report promises: texts where texts are due, an aware start time."""
    if isinstance(parsed, Ignored):
        assert isinstance(parsed.reason, str)
        return
    assert isinstance(parsed, DeployReport)
    for name in ("source", "external_id", "env", "status", "deployer"):
        assert isinstance(getattr(parsed, name), str) and getattr(parsed, name), name
    assert parsed.status in {*parse.FINAL, "pending", "queued", "running", "inactive"}
    for name in ("deployer_email", "sha", "ref", "version", "repo", "title", "url",
                 "commit_url", "environment_url"):
        assert getattr(parsed, name) is None or isinstance(getattr(parsed, name), str), name
    assert parsed.started_at is None or parsed.started_at.utcoffset() is not None
    json.dumps([parsed.external_id, parsed.env, parsed.deployer], allow_nan=False)


def _run(source: str, event: str, payload: dict[str, Any], config: DeploysConfig) -> None:
    try:
        if source == "github":
            parsed = parse.github(event, payload, config)
        elif source == "gitlab":
            parsed = parse.gitlab(event, payload, config)
        else:
            parse.jenkins_delivery(payload)
            parsed = parse.jenkins(payload, config)
    except InputError as exc:
        assert str(exc)
        return
    _check(parsed)


@pytest.mark.parametrize(("source", "event", "payload"),
                         [(s, e, p) for s, pairs in SAMPLES.items() for e, p in pairs])
def test_the_real_payloads_parse(source: str, event: str, payload: dict[str, Any]) -> None:
    for config in CONFIGS:
        _run(source, event, payload, config)
    parsed = (parse.github(event, payload, CONFIGS[1]) if source == "github"
              else parse.gitlab(event, payload, CONFIGS[1]) if source == "gitlab"
              else parse.jenkins(payload, CONFIGS[1]))
    assert isinstance(parsed, Ignored) is (event == "star")


@settings(max_examples=examples(300))
@given(source=st.sampled_from(["github", "gitlab", "jenkins"]), event=github_events,
       payload=json_objects, config=configs)
@example(source="jenkins", event="", config=CONFIGS[0], payload={
    "name": "deploy", "build": {"number": 1, "phase": "COMPLETED", "parameters": {"ENV": "qa"},
                                "scm": {"culprits": 5}}})
@example(source="jenkins", event="", config=CONFIGS[0], payload={
    "name": "deploy", "build": {"number": 1, "phase": "STARTED", "parameters": {"ENV": "qa"},
                                "timestamp": 1e300}})
@example(source="github", event="deployment", config=CONFIGS[0], payload={
    "deployment": {"id": 1, "environment": "qa", "created_at": "9999-12-31T23:59:59-01:00"}})
@example(source="gitlab", event="", config=CONFIGS[0], payload={
    "object_kind": "deployment", "deployment_id": 1, "environment": "qa", "status": "running",
    "status_changed_at": float("inf")})
def test_any_json_object_is_a_report_ignored_or_an_input_error(
    source: str, event: str, payload: dict[str, Any], config: DeploysConfig
) -> None:
    _run(source, event, payload, config)


@st.composite
def mutated_samples(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    source = draw(st.sampled_from(sorted(SAMPLES)))
    event, payload = draw(st.sampled_from(SAMPLES[source]))
    return source, event, draw(mutated(payload))


@settings(max_examples=examples(400))
@given(sample=mutated_samples(), config=configs)
def test_mutated_real_payloads_are_a_report_ignored_or_an_input_error(
    sample: tuple[str, str, dict[str, Any]], config: DeploysConfig
) -> None:
    _run(*sample, config)


@settings(max_examples=examples(200))
@given(value=json_values)
def test_parse_time_reads_a_moment_or_none(value: Any) -> None:
    moment = parse.parse_time(value)
    assert moment is None or moment.utcoffset() is not None


# --- Jira: handle() on a real database -----------------------------------------------------

_deliveries = itertools.count()
jira_objects = st.one_of(
    json_objects,
    st.fixed_dictionaries({"webhookEvent": st.sampled_from(["jira:issue_updated",
                                                            "jira:issue_deleted"])},
                          optional={"issue": json_values, "changelog": json_values,
                                    "user": json_values}),
    st.fixed_dictionaries({
        "webhookEvent": st.just("jira:issue_updated"),
        "issue": st.fixed_dictionaries({"key": st.sampled_from(["OPS-1", "OPS-2"])},
                                       optional={"fields": json_values}),
        "changelog": st.fixed_dictionaries({}, optional={"items": json_values}),
    }, optional={"user": json_values}),
)


@settings(max_examples=examples(50))
@given(payload=jira_objects)
@example(payload={"webhookEvent": "jira:issue_updated", "issue": {"key": "OPS-1"},
                  "changelog": ["status"]})
@example(payload={"webhookEvent": "jira:issue_updated", "issue": ["OPS-1"]})
@example(payload={"webhookEvent": "jira:issue_updated", "issue": {"key": "OPS-1", "fields": 1},
                  "changelog": {"items": [{"field": "status", "toString": "Done"}]}})
@example(payload={"webhookEvent": "jira:issue_updated",
                  "issue": {"key": "OPS-1", "fields": {"status": {"statusCategory": "done"}}},
                  "changelog": {"items": [{"field": "status"}]}})
@example(payload={"webhookEvent": "jira:issue_deleted", "issue": {"key": "OPS-1"},
                  "user": "alice"})
@example(payload={"webhookEvent": "jira:issue_updated", "issue": {"key": "OPS-1"},
                  "changelog": {"items": 7}})
def test_the_jira_handler_takes_any_json_object(demo: Services, payload: dict[str, Any]) -> None:
    with Session(demo.engine) as session:
        before = row_counts(session)
    result = handle(demo, payload, f"property-{next(_deliveries)}")
    assert result["status"] in ("ok", "ignored")
    with Session(demo.engine) as session:
        after = row_counts(session)
    changed = {t for t in after if after[t] != before[t]}
    assert changed <= {"processed_event"}  # the dedupe row; nothing is booked to release
    json.dumps(result, allow_nan=False)
