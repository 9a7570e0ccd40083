"""Power schedules end to end on the demo (staging-1 stops at 20:00 Europe/Berlin on weekdays, in
dry run): the notice with "Keep running tonight", the modal and its reason, the kept night, the
next night's "would stop" and the morning's start — each once."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from bot.errors import ProviderThrottled
from bot.jobs import run_job
from bot.services import Services
from providers.compute import Action, Fleet, LiveResource
from providers.compute_demo import DemoCompute
from storage.models import AuditLog
from tests.fakes.slack import FakeSlack
from tests.scenario.harness import Clock, SlackClientSim, signed_headers, wait

BERLIN = ZoneInfo("Europe/Berlin")
STAGING_1 = "arn:aws:ec2:us-east-1:222222222222:instance/i-0a1b2c3d4e5f60010"


def _weeknight(clock: Clock) -> datetime:
    """19:31 in Berlin on the next Monday..Thursday (so the next morning is a weekday)."""
    day = clock.now.astimezone(BERLIN).date() + timedelta(days=1)
    while day.weekday() > 3:
        day += timedelta(days=1)
    return datetime.combine(day, time(19, 31), BERLIN)


def _alice(fake: FakeSlack) -> list[str]:
    return [m.text for m in fake.messages("D0ALICE")]


def _audit(services: Services, action: str) -> list[dict[str, Any]]:
    with Session(services.engine) as session:
        rows = session.scalars(select(AuditLog).where(col(AuditLog.action) == action)
                               .order_by(col(AuditLog.id)))
        return [json.loads(r.details) for r in rows]


def _submit(slack: SlackClientSim, user: str, metadata: str, reason: str) -> httpx.Response:
    payload = {
        "type": "view_submission", "team": {"id": slack.team_id}, "api_app_id": "A0FINOPS",
        "user": {"id": user, "team_id": slack.team_id}, "trigger_id": "1337.42.jkl",
        "view": {"id": "V0KEEP", "type": "modal", "callback_id": "power_keep_modal",
                 "private_metadata": metadata, "hash": "h2",
                 "state": {"values": {"reason": {"value": {"type": "plain_text_input",
                                                           "value": reason}}}}},
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return slack.post(body, signed_headers(body))


def test_keep_running_tonight_then_the_next_night_would_stop(
    services: Services, slack: SlackClientSim, fake_slack: FakeSlack,
    clock: Clock,
) -> None:
    clock.now = _weeknight(clock)
    run_job(services, "power")
    run_job(services, "power")  # once per resource and event
    notices = [t for t in _alice(fake_slack) if "stops at 20:00" in t]
    assert len(notices) == 1 and "staging-1-app" in notices[0] and "Europe/Berlin" in notices[0]
    button = next(e for m in fake_slack.messages("D0ALICE") for b in m.blocks or []
                  if b["type"] == "actions" for e in b["elements"])
    assert button["action_id"] == "power_keep"

    url = fake_slack.response_url()
    assert slack.action("power_keep", button["value"], user_id="U0ALICE",
                        response_url=url).status_code == 200
    opened = wait(lambda: fake_slack.calls("views.open"))
    assert opened[0].args["view"]["callback_id"] == "power_keep_modal"
    metadata = opened[0].args["view"]["private_metadata"]

    empty = _submit(slack, "U0ALICE", metadata, "  ")
    assert empty.json()["response_action"] == "errors"
    stranger = _submit(slack, "U0DAVE", metadata, "I want it")
    assert stranger.json()["errors"]["reason"] == (
        "only alice@example.com (the owner) or an admin can keep `staging-1-app` running.")
    assert _audit(services, "power.keep") == []
    ok = _submit(slack, "U0ALICE", metadata, "load test overnight")
    assert ok.status_code == 200 and not ok.content.strip()  # an empty ack closes the modal
    wait(lambda: any("keeps running tonight" in t for t in _alice(fake_slack)))

    clock.now += timedelta(minutes=30)  # 20:01
    assert "kept running 1" in run_job(services, "power")
    assert not any("would stop" in t for t in _alice(fake_slack))
    kept = _audit(services, "power.kept")
    assert len(kept) == 1 and kept[0]["reason"] == "load test overnight"

    clock.now += timedelta(days=1)  # the next evening, 20:01: no one asked to keep it
    assert "would stop 1" in run_job(services, "power")
    run_job(services, "power")
    assert sum("would stop" in t for t in _alice(fake_slack)) == 1
    clock.now += timedelta(hours=11)  # 07:01 the morning after: the dry run never stopped it
    assert run_job(services, "power") == "already running 1"
    assert services.fleet.for_resource(STAGING_1).describe(STAGING_1).state == "running"  # type: ignore[union-attr]


class _ThrottledFor:
    """The demo cloud, except that describing one resource is throttled (as AWS can be)."""

    provider = "demo"

    def __init__(self, resource_id: str) -> None:
        self.inner, self.resource_id, self.calls = DemoCompute(), resource_id, 0

    def handles(self, resource_id: str) -> bool:
        return self.inner.handles(resource_id)

    def describe(self, resource_id: str) -> LiveResource | None:
        if resource_id == self.resource_id:
            self.calls += 1
            raise ProviderThrottled(f"DescribeInstances {resource_id}: Throttling: Rate exceeded")
        return self.inner.describe(resource_id)

    def act(self, resource_id: str, action: Action) -> None:
        self.inner.act(resource_id, action)


def test_a_resource_whose_stop_fails_does_not_hold_up_the_others(
        services: Services, fake_slack: FakeSlack, clock: Clock) -> None:
    nights = services.config.schedules[0]
    second = nights.model_copy(update={"name": "staging-2-nights",
                                       "tag_selector": {"environment": "staging-2"}})
    services.config = services.config.model_copy(update={"schedules": [nights, second]})
    throttled = _ThrottledFor(STAGING_1)
    services.fleet = Fleet([throttled])
    clock.now = _weeknight(clock) + timedelta(minutes=30)  # 20:01, both stop
    outcome = run_job(services, "power")
    assert outcome == "failed 1, would stop 1", outcome
    assert throttled.calls == 1
    failed = _audit(services, "power.stop.failed")
    assert len(failed) == 1 and "Rate exceeded" in failed[0]["error"]
    assert [d["schedule"] for d in _audit(services, "power.stop")] == ["staging-2-nights"]
    assert run_job(services, "power") == "nothing to do"  # claimed: retried after its lease


@pytest.mark.parametrize(("weekday", "next_morning"), [(5, "nothing to do"),
                                                     (6, "already running 1")])
def test_weekdays_only_schedules_do_nothing_at_weekends(
    services: Services, clock: Clock, weekday: int, next_morning: str,
) -> None:
    day = clock.now.astimezone(BERLIN).date()
    while day.weekday() != weekday:
        day += timedelta(days=1)
    clock.now = datetime.combine(day, time(20, 1), BERLIN)
    # the latest event is Friday's stop, which this fresh database never saw: it is done now
    assert "would stop 1" in run_job(services, "power")
    clock.now += timedelta(hours=12)  # Sunday 08:01: still Friday's stop; Monday's: a start
    assert run_job(services, "power") == next_morning
