"""TTL workflows end to end on the demo estate, in dry run: the warning DM with its buttons, the
expiry notice, the "would destroy"; an Extend click between warning and action; who may do what;
the kill switch; exemptions. Signed requests into the real app, the fake Slack, a real database
and an injected clock."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from bot.jobs import run_job
from bot.services import Services
from storage import lifecycle
from storage.models import Anomaly, AuditLog, Exemption, TtlOverride
from tests.fakes.slack import FakeSlack
from tests.scenario.harness import Clock, SlackClientSim
from tests.scenario.test_envs import _ask, _press

BOB_BOX = "arn:aws:ec2:us-east-1:222222222222:instance/i-0a1b2c3d4e5f60020"  # perf-test-bob


def _dms(fake: FakeSlack, user: str) -> list[str]:
    return [m.text for m in fake.messages("D" + user[1:])]


def _blocks(fake: FakeSlack, user: str) -> str:
    return json.dumps([m.blocks for m in fake.messages("D" + user[1:])])


def _row(services: Services) -> lifecycle.Lifecycle:
    with Session(services.engine) as session:
        row = lifecycle.get(session, resource_id=BOB_BOX)
    assert row is not None
    return row


def _audit(services: Services, action: str) -> list[AuditLog]:
    with Session(services.engine) as session:
        return list(session.scalars(select(AuditLog).where(col(AuditLog.action) == action)
                                    .order_by(col(AuditLog.id))))


def test_the_warning_offers_only_the_extensions_max_extension_allows(
    services: Services, fake_slack: FakeSlack
) -> None:
    # perf-test-bob has expired: an extension counts from now, and stops 2 days from now
    services.config = services.config.model_copy(update={
        "lifecycle": services.config.lifecycle.model_copy(update={"max_extension": "2d"})})
    run_job(services, "lifecycle")
    buttons = _blocks(fake_slack, "U0BOB")
    assert '"ttl_extend_1d"' in buttons and '"ttl_destroy_now"' in buttons
    assert '"ttl_extend_3d"' not in buttons and '"ttl_extend_7d"' not in buttons


def test_warn_notice_then_would_destroy_each_exactly_once(
    services: Services, fake_slack: FakeSlack, clock: Clock
) -> None:
    run_job(services, "lifecycle")
    run_job(services, "lifecycle")  # a second run (or replica) sends nothing new
    warned = [t for t in _dms(fake_slack, "U0BOB") if "perf-test-bob" in t]
    # it expired days ago: the first word is the notice, and the 10-minute grace starts now
    assert len(warned) == 1 and "will be destroyed" in warned[0]
    assert "unless extended" in warned[0]
    buttons = _blocks(fake_slack, "U0BOB")
    for action in ("ttl_extend_1d", "ttl_extend_3d", "ttl_extend_7d", "ttl_destroy_now",
                   "ttl_exempt"):
        assert f'"{action}"' in buttons
    assert '"confirm"' in buttons  # Destroy now asks first
    assert _row(services).state == "due"

    clock.now += timedelta(minutes=5)  # inside the 10-minute grace: nothing yet
    run_job(services, "lifecycle")
    assert not any("would destroy" in t for t in _dms(fake_slack, "U0BOB"))

    clock.now += timedelta(minutes=6)
    run_job(services, "lifecycle")
    run_job(services, "lifecycle")
    would = [t for t in _dms(fake_slack, "U0BOB") if "would destroy" in t]
    assert len(would) == 1 and would[0].startswith("Dry run: finops-bot would destroy")
    row = _row(services)
    assert (row.state, row.outcome) == ("done", "dry run: would destroy")
    assert services.fleet.for_resource(BOB_BOX).describe(BOB_BOX).state == "running"  # type: ignore[union-attr]
    acts = [json.loads(a.details) for a in _audit(services, "lifecycle.act")
            if a.target == BOB_BOX]
    assert acts == [{"outcome": "dry run: would destroy", "state_before": "due",
                     "state_after": "done", "before": "running",
                     "after": "unchanged (dry run)", "dry_run": True,
                     "daily_cost": acts[0]["daily_cost"]}]
    assert len([a for a in _audit(services, "lifecycle.notice") if a.target == BOB_BOX]) == 1


def test_an_extend_click_between_warning_and_action_prevents_the_destroy(
    services: Services, slack: SlackClientSim, fake_slack: FakeSlack, clock: Clock
) -> None:
    run_job(services, "lifecycle")
    reply = _press(slack, fake_slack, "ttl_extend_3d", BOB_BOX, "U0BOB")
    assert reply.response_type == "ephemeral" and "now expires" in reply.text
    row = _row(services)
    assert row.state == "active" and row.expires_at is not None
    assert row.expires_at - clock.now == timedelta(days=3)  # it had expired: from now
    assert "an extension by bob@example.com" in row.source

    seen = len(_dms(fake_slack, "U0BOB"))
    for step in (timedelta(minutes=1), timedelta(minutes=11), timedelta(hours=2)):
        clock.now += step
        run_job(services, "lifecycle")
    assert _dms(fake_slack, "U0BOB")[seen:] == []  # no destroy, no new notice

    # a day before the new expiry the owner is warned again, once
    clock.now = row.expires_at - timedelta(hours=23)
    run_job(services, "lifecycle")
    run_job(services, "lifecycle")
    again = _dms(fake_slack, "U0BOB")[seen:]
    assert len(again) == 1 and "perf-test-bob" in again[0] and "expires" in again[0]


def test_only_owner_manager_or_admin_may_extend_and_bad_text_changes_nothing(
    services: Services, slack: SlackClientSim, fake_slack: FakeSlack, clock: Clock
) -> None:
    run_job(services, "lifecycle")
    before = _row(services)
    denied = _press(slack, fake_slack, "ttl_extend_1d", BOB_BOX, "U0DAVE")
    # the refusal names who may: bob owns it and manages its team
    assert denied.text.startswith(
        "only bob@example.com (the owner) or an admin can extend the TTL of `perf-test-bob`.")
    bad = _ask(slack, fake_slack, "extend perf-test-bob soon", "U0BOB")
    assert "not a duration" in json.dumps(bad.payload) or "not a" in bad.text
    past = _ask(slack, fake_slack, f"extend perf-test-bob {clock.now - timedelta(days=1):%Y-%m-%d}",
                "U0BOB")
    assert "in the past" in json.dumps(past.payload)
    too_far = _ask(slack, fake_slack, "extend perf-test-bob 52w", "U0BOB")
    assert "longest extension" in json.dumps(too_far.payload)
    after = _row(services)
    assert (after.state, after.expires_at, after.version) == (
        before.state, before.expires_at, before.version)

    ok = _ask(slack, fake_slack, "extend perf-test-bob 3d", "U0ALICE")  # alice is an admin
    assert "now expires" in ok.text
    tomorrow = f"{clock.now + timedelta(days=1):%Y-%m-%d}"
    shorter = _ask(slack, fake_slack, f"extend perf-test-bob {tomorrow}", "U0BOB")
    assert "would not extend it" in json.dumps(shorter.payload)  # never shortens
    shown = _ask(slack, fake_slack, "ttl perf-test-bob", "U0BOB")
    text = json.dumps(shown.payload)
    assert "TTL from an extension by alice@example.com" in text
    assert "destroyed after a grace period" in text
    assert f"expires {clock.now + timedelta(days=3):%a %b %d}" in text
    assert "Next: a warning to its owner" in text


def test_pause_actions_is_admin_only_and_stops_every_act(
    services: Services, slack: SlackClientSim, fake_slack: FakeSlack, clock: Clock
) -> None:
    refused = _ask(slack, fake_slack, "pause-actions", "U0BOB")
    assert "only admins" in json.dumps(refused.payload)
    paused = _ask(slack, fake_slack, "pause-actions", "U0ALICE")
    assert paused.response_type == "in_channel" and "paused by alice@example.com" in paused.text
    run_job(services, "lifecycle")  # warnings still go out
    clock.now += timedelta(minutes=1)
    run_job(services, "lifecycle")
    clock.now += timedelta(minutes=15)
    result = run_job(services, "lifecycle")
    assert "paused 1" in result
    assert not any("would destroy" in t for t in _dms(fake_slack, "U0BOB"))
    assert _row(services).state == "due"
    _ask(slack, fake_slack, "resume-actions", "U0ALICE")
    run_job(services, "lifecycle")
    assert sum("would destroy" in t for t in _dms(fake_slack, "U0BOB")) == 1


def test_exemption_request_goes_to_the_manager_and_approval_stops_the_workflow(
    services: Services, slack: SlackClientSim, fake_slack: FakeSlack, clock: Clock
) -> None:
    run_job(services, "lifecycle")
    asked = _press(slack, fake_slack, "ttl_exempt", BOB_BOX, "U0BOB")
    assert "exempt" in asked.text
    requests = [m for m in fake_slack.messages() if "asks that" in m.text]
    assert len(requests) == 1
    approve = json.dumps(requests[0].blocks)
    assert '"ttl_exempt_approve"' in approve and '"ttl_exempt_deny"' in approve
    exemption_id = next(
        e["value"] for b in requests[0].blocks or [] if b["type"] == "actions"
        for e in b["elements"] if e["action_id"] == "ttl_exempt_approve"
    )
    again = _press(slack, fake_slack, "ttl_exempt", BOB_BOX, "U0BOB")
    assert "already waiting" in again.text
    stranger = _press(slack, fake_slack, "ttl_exempt_approve", exemption_id, "U0CAROL")
    assert stranger.text.startswith("only bob@example.com (manager of team data) or an admin "
                                    "can decide the exemption of `perf-test-bob`.")
    decided = _press(slack, fake_slack, "ttl_exempt_approve", exemption_id, "U0ALICE")
    assert "approved by alice@example.com" in decided.text and decided.replace_original
    assert _row(services).state == "exempt"
    twice = _press(slack, fake_slack, "ttl_exempt_deny", exemption_id, "U0ALICE")
    assert "already approved" in twice.text
    seen = len(_dms(fake_slack, "U0BOB"))
    for step in (timedelta(minutes=1), timedelta(hours=1)):
        clock.now += step
        run_job(services, "lifecycle")
    assert _dms(fake_slack, "U0BOB")[seen:] == []


def test_clock_jumps_neither_repeat_nor_skip_a_step(
    services: Services, fake_slack: FakeSlack, clock: Clock
) -> None:
    start = clock.now
    run_job(services, "lifecycle")  # the notice: destroy in 10 minutes
    sent = len(_dms(fake_slack, "U0BOB"))
    clock.now = start - timedelta(days=2)  # the clock jumps back
    run_job(services, "lifecycle")
    run_job(services, "digest")
    assert len(_dms(fake_slack, "U0BOB")) == sent + 1  # only the digest (for that day)
    assert _row(services).state == "due"
    clock.now = start + timedelta(days=3)  # and far forward: the step happens once
    run_job(services, "lifecycle")
    clock.now = start + timedelta(minutes=11)  # back again
    run_job(services, "lifecycle")
    run_job(services, "digest")  # today's digest was not sent yet: once now
    texts = _dms(fake_slack, "U0BOB")
    assert sum("would destroy" in t for t in texts) == 1
    assert sum("month to date" in t for t in texts) == 2
    assert _row(services).state == "done"


@pytest.mark.parametrize("value", ["", "abc", "-3", "²", "99999999999999999999"])
def test_a_button_value_that_names_nothing_is_refused_and_changes_nothing(
    services: Services, slack: SlackClientSim, fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture, value: str,
) -> None:
    # Slack sends back the value of a button we made; a hand-made payload can send anything.
    # Many resources have no name: an empty value used to pick the one unnamed resource.
    run_job(services, "lifecycle")
    caplog.set_level(logging.ERROR)

    def counts() -> list[int]:
        with Session(services.engine) as session:
            return [len(session.scalars(select(model)).all())
                    for model in (AuditLog, Exemption, TtlOverride, Anomaly)]

    before = counts()
    for action in ("ttl_exempt", "ttl_extend_1d", "ttl_destroy_now", "ttl_exempt_approve",
                   "anomaly_ack", "anomaly_snooze"):
        reply = _press(slack, fake_slack, action, value, "U0ALICE")  # alice is an admin
        assert reply.response_type == "ephemeral" and not reply.replace_original
        if value and action in ("ttl_exempt", "ttl_extend_1d", "ttl_destroy_now"):
            assert f"no resource `{value}`" in reply.text, (action, reply.text)  # any name
        else:  # no name, or not an id
            assert "does not name" in reply.text, (action, reply.text)
    assert counts() == before
    assert [r.getMessage() for r in caplog.records] == []
