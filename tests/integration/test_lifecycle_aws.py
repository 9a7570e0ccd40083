"""TTL workflows against real AWS behaviour (moto in server mode, boto3, through a loopback hop
that records every EC2 call and can answer with EC2's errors), the fake Slack and a real
database, with enforcement on: instances really stop and terminate.

Faults: a worker killed between its claim and the action (the step is taken over after the
lease: exactly one TerminateInstances), killed after the action (no second call), an Extend
landing between the warning and the action (no destroy), throttling (retried), a provider error
(the step stays retryable and is reported, never marked done), the per-run cap and protection.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from bot.config import parse_config
from bot.jobs import run_job
from bot.lifecycle_requests import extend
from bot.pipeline import store_batch
from bot.records import DailyCost
from bot.services import Services
from bot.settings import Settings
from providers.base import CostBatch
from providers.compute import fleet_from_config
from providers.slack import SlackTransport
from storage import lifecycle
from storage.db import session_scope
from storage.models import AuditLog, Saving
from tests.fakes import aws as moto_fakes
from tests.fakes.aws import DEFAULT_ACCOUNT, MotoProxy, MotoServer, ec2_error, throttled
from tests.fakes.slack import FakeSlack
from tests.scenario.harness import Clock

moto_server = moto_fakes.moto_server
aws = moto_fakes.aws

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
USERS = {"alice@example.com": "U0ALICE", "bob@example.com": "U0BOB"}


@pytest.fixture
def proxy(aws: MotoServer) -> Iterator[MotoProxy]:
    with MotoProxy(aws.endpoint_url) as hop:
        yield hop


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack(users=dict(USERS)) as fake:
        yield fake


def _config(endpoint: str, **lifecycle: Any) -> Any:
    return parse_config(json.dumps({
        "admins": ["alice@example.com"],
        "teams": {"platform": {"manager": "alice@example.com", "members": ["bob@example.com"]}},
        "accounts": [{"provider": "aws", "name": "prod", "endpoint_url": endpoint}],
        "ttl_policies": [{"name": "sandbox", "account": DEFAULT_ACCOUNT, "action": "destroy",
                          "warn_before": "2h", "grace": "1h"}],
        "lifecycle": {"enforce": True, **lifecycle},
    }), source="test.yaml")


@pytest.fixture
def make(db: Engine, aws: MotoServer, proxy: MotoProxy,
         fake_slack: FakeSlack) -> Iterator[Any]:
    made: list[Services] = []

    def build(**lifecycle: Any) -> Services:
        config = _config(proxy.url, **lifecycle)
        chat = SlackTransport(fake_slack.token, base_url=fake_slack.base_url,
                              server_error_backoff=0)
        services = Services(settings=Settings(database_url="sqlite://"), config=config,
                            engine=db, chat=chat, clock=Clock(NOW),
                            fleet=fleet_from_config(config, aws={"max_attempts": 3}))
        made.append(services)
        return services

    yield build
    for services in made:
        services.fleet.close()


def _instance(aws: MotoServer, *, ttl: str, **tags: str) -> str:
    instance = aws.run_instance(owner="bob@example.com", ttl=ttl, **tags)
    return f"arn:aws:ec2:us-east-1:{DEFAULT_ACCOUNT}:instance/{instance}"


def _ingest(services: Services, *arns: str, tags: dict[str, dict[str, str]]) -> None:
    rows = [DailyCost(day=NOW.date() - timedelta(days=d), resource_id=arn, provider="AWS",
                      billing_account_id=DEFAULT_ACCOUNT, sub_account_id=DEFAULT_ACCOUNT,
                      service="Amazon Elastic Compute Cloud", currency="USD", billed_cost=24.0,
                      effective_cost=24.0, list_cost=24.0, resource_type="Instance",
                      tags=tags[arn])
            for arn in arns for d in range(1, 8)]  # fmt: skip
    with session_scope(services.engine) as session:
        store_batch(session, CostBatch(source="test", rows=rows), config=services.config,
                    now=services.now())


def _expired_box(services: Services, aws: MotoServer) -> str:
    """bob's instance, whose ttl tag passed yesterday, launched and ingested."""
    arn = _instance(aws, ttl=_expired())
    _ingest(services, arn, tags={arn: {"owner": "bob@example.com", "ttl": _expired()}})
    return arn


def _destroy_due(services: Services, aws: MotoServer) -> str:
    """The expired instance, warned by a sweep, two hours later: its destroy is due now."""
    arn = _expired_box(services, aws)
    run_job(services, "lifecycle")
    services.clock.now += timedelta(hours=2)  # type: ignore[attr-defined]
    return arn


def _state(aws: MotoServer, arn: str) -> str:
    return aws.instance_state(arn.rsplit("/", 1)[1])


def _row(services: Services, arn: str) -> Any:
    with Session(services.engine) as session:
        return lifecycle.get(session, resource_id=arn)


def _terminates(proxy: MotoProxy) -> int:
    return proxy.actions().count("TerminateInstances")


def _expired(days: int = 1) -> str:
    return (NOW.date() - timedelta(days=days)).isoformat()


def _tick(services: Services, delta: timedelta) -> str:
    services.clock.now += delta  # type: ignore[attr-defined]
    return run_job(services, "lifecycle")


def test_warn_then_destroy_for_real_with_savings_and_audit(
    make: Any, aws: MotoServer, proxy: MotoProxy, fake_slack: FakeSlack
) -> None:
    services = make()
    arn = _expired_box(services, aws)
    assert "warned 1" in run_job(services, "lifecycle")
    assert _terminates(proxy) == 0 and _row(services, arn).state == "warned"
    assert "warned 1" not in _tick(services, timedelta(minutes=59))  # grace: 1 h after warning
    assert _state(aws, arn) == "running"
    assert "destroyed 1" in _tick(services, timedelta(minutes=2))
    assert _state(aws, arn) == "terminated" and _terminates(proxy) == 1
    _tick(services, timedelta(hours=1))
    assert _terminates(proxy) == 1  # done is done
    dms = [m.text for m in fake_slack.messages("D0BOB")]
    assert any(t.startswith("Destroyed `") for t in dms)
    with Session(services.engine) as session:
        saving = session.scalars(select(Saving)).one()
        entries = session.scalars(select(AuditLog).where(col(AuditLog.action) == "lifecycle.act"))
        details = [json.loads(e.details) for e in entries]
    assert (saving.action, saving.daily_cost, saving.owner) == ("destroy", 24.0,
                                                                "bob@example.com")
    assert details[0]["before"] == "running" and details[0]["after"] in ("terminated",
                                                                         "shutting-down", "gone")


def test_a_worker_killed_between_claim_and_action_is_taken_over_once(
    make: Any, aws: MotoServer, proxy: MotoProxy
) -> None:
    services = make()
    arn = _destroy_due(services, aws)
    # a worker claims the destroy, then dies before calling AWS
    with session_scope(services.engine) as session:
        due = lifecycle.due(session, now=services.now())
        assert [d.resource_id for d in due] == [arn]
        assert lifecycle.claim(session, row=due[0], worker="dead-replica", now=services.now())
    assert "steps due" in _tick(services, timedelta(minutes=5))  # its lease still holds
    assert _terminates(proxy) == 0 and _state(aws, arn) == "running"
    assert "destroyed 1" in _tick(services, timedelta(minutes=6))  # lease over: taken over
    assert _terminates(proxy) == 1 and _state(aws, arn) == "terminated"


def test_a_worker_killed_after_the_action_never_acts_twice(
    make: Any, aws: MotoServer, proxy: MotoProxy
) -> None:
    services = make()
    arn = _destroy_due(services, aws)
    with session_scope(services.engine) as session:
        due = lifecycle.due(session, now=services.now())
        assert lifecycle.claim(session, row=due[0], worker="dead-replica", now=services.now())
    member = services.fleet.for_resource(arn)
    assert member is not None
    member.act(arn, "destroy")  # it called AWS, then died before recording it
    assert _terminates(proxy) == 1
    _tick(services, timedelta(minutes=11))
    assert _terminates(proxy) == 1
    row = _row(services, arn)
    assert row.state == "done" and "already gone" in row.outcome


def test_an_extend_between_warning_and_action_means_no_destroy(
    make: Any, aws: MotoServer, proxy: MotoProxy
) -> None:
    services = make()
    arn = _destroy_due(services, aws)
    with session_scope(services.engine) as session:
        due = lifecycle.due(session, now=services.now())
        # the sweeper has read the due step; the owner's Extend lands before it acts
        extend(session, config=services.config, target=arn, text="3d", by="bob@example.com",
               now=services.now())
    from bot.lifecycle_run import run_step

    assert run_step(services, due[0], "act") == "taken"  # the version moved: no claim
    for _ in range(3):
        _tick(services, timedelta(hours=1))
    assert _terminates(proxy) == 0 and _state(aws, arn) == "running"
    assert _row(services, arn).state == "active"


def test_retagged_live_resource_is_rechecked_right_before_acting(
    make: Any, aws: MotoServer, proxy: MotoProxy
) -> None:
    services = make()
    arn = _expired_box(services, aws)
    run_job(services, "lifecycle")
    later = (NOW.date() + timedelta(days=30)).isoformat()
    ec2 = aws.client("ec2")
    ec2.create_tags(Resources=[arn.rsplit("/", 1)[1]], Tags=[{"Key": "ttl", "Value": later}])
    ec2.close()
    _tick(services, timedelta(hours=2))  # the database still says expired; AWS says otherwise
    assert _terminates(proxy) == 0 and _state(aws, arn) == "running"
    assert "TTL changed" in _row(services, arn).outcome


def test_throttling_is_retried_and_a_provider_error_stays_retryable_and_reported(
    make: Any, aws: MotoServer, proxy: MotoProxy, fake_slack: FakeSlack
) -> None:
    services = make()
    arn = _expired_box(services, aws)
    run_job(services, "lifecycle")
    proxy.fail_next(throttled(), times=2, when=lambda c: moto_fakes.action_of(c) ==
                    "TerminateInstances")
    proxy.fail_next(ec2_error(500, "InternalError", "An internal error has occurred."),
                    times=3, when=lambda c: moto_fakes.action_of(c) == "TerminateInstances")
    # throttled twice and retried by the client, then the 500s (3 attempts) fail the step
    assert "failed 1" in _tick(services, timedelta(hours=2))
    row = _row(services, arn)
    assert row.state == "warned" and "InternalError" in row.last_error
    assert row.claimed_by is None and row.next_at > services.now()
    assert _state(aws, arn) == "running"
    alerts = [m.text for m in fake_slack.messages("D0ALICE")]
    assert any("Could not destroy" in t and "InternalError" in t for t in alerts)
    # AWS is fine again: the retry after the back-off succeeds
    assert "destroyed 1" in _tick(services, timedelta(minutes=3))
    assert _state(aws, arn) == "terminated"


def test_the_cap_halts_the_run_and_alerts_admins_and_protected_is_never_touched(
    make: Any, aws: MotoServer, proxy: MotoProxy, fake_slack: FakeSlack
) -> None:
    services = make(max_actions_per_run=2)
    arns = [_instance(aws, ttl=_expired()) for _ in range(4)]
    shielded = _instance(aws, ttl=_expired(), **{"finops:protected": "true"})
    tags = {a: {"owner": "bob@example.com", "ttl": _expired()} for a in arns}
    tags[shielded] = {"owner": "bob@example.com", "ttl": _expired(), "finops:protected": "true"}
    _ingest(services, *arns, shielded, tags=tags)
    run_job(services, "lifecycle")
    result = _tick(services, timedelta(hours=2))
    assert "destroyed 2" in result and "halted" in result
    assert _terminates(proxy) == 2
    assert any("stopped its lifecycle run after 2 actions" in m.text
               for m in fake_slack.messages("D0ALICE"))
    for _ in range(3):
        _tick(services, timedelta(minutes=1))
    assert _terminates(proxy) == 4
    assert _state(aws, shielded) == "running"
    assert "protected" in _row(services, shielded).outcome


def test_dry_run_changes_nothing_at_the_provider(
    make: Any, aws: MotoServer, proxy: MotoProxy
) -> None:
    services = make(enforce=False)
    arn = _expired_box(services, aws)
    run_job(services, "lifecycle")
    assert "would destroy 1" in _tick(services, timedelta(hours=2))
    assert _terminates(proxy) == 0 and _state(aws, arn) == "running"
    assert "DescribeInstances" in proxy.actions()  # re-read even in a dry run
    assert _row(services, arn).outcome == "dry run: would destroy"
