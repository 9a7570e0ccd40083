"""Admins by Slack user group: members of a configured `admin_groups` group may do what the
config's admins may (pause actions, extend, approve exemptions); others may not; a group Slack
cannot list grants nothing. Signed requests into the real app, the fake Slack, a real database."""

from __future__ import annotations

import json
import logging

import pytest
from sqlmodel import Session

from bot.jobs import run_job
from bot.services import Services
from storage import lifecycle
from tests.fakes.slack import FakeSlack
from tests.scenario.harness import Clock, SlackClientSim, wait
from tests.scenario.test_envs import _ask, _press
from tests.scenario.test_lifecycle import BOB_BOX, _audit, _row


def _admin_group(services: Services, fake: FakeSlack, *members: str,
                 group: str = "S0FINOPS") -> None:
    fake.add_usergroup(group, list(members), handle="finops-admins")
    services.config = services.config.model_copy(update={"admin_groups": [group]})


def _paused(services: Services) -> bool:
    with Session(services.engine) as session:
        return lifecycle.paused(session) is not None


def test_a_member_of_an_admin_group_may_pause_actions_and_others_may_not(
    services: Services, slack: SlackClientSim, fake_slack: FakeSlack
) -> None:
    _admin_group(services, fake_slack, "U0DAVE", "U0CAROL")
    refused = _ask(slack, fake_slack, "pause-actions", "U0BOB")  # bob is in no admin group
    assert "only admins" in json.dumps(refused.payload)
    assert not _paused(services)
    paused = _ask(slack, fake_slack, "pause-actions", "U0DAVE")
    assert paused.response_type == "in_channel" and "paused by dave@example.com" in paused.text
    assert _paused(services)
    assert [a.actor for a in _audit(services, "lifecycle.pause")] == ["dave@example.com"]
    calls = fake_slack.calls("usergroups.users.list")
    assert calls and {c.args["usergroup"] for c in calls} == {"S0FINOPS"}
    # the config's admins are admins as before, with or without groups
    resumed = _ask(slack, fake_slack, "resume-actions", "U0ALICE")
    assert "resumed by alice@example.com" in resumed.text
    assert not _paused(services)


def test_a_group_admins_app_home_lists_every_open_anomaly(
    services: Services, slack: SlackClientSim, fake_slack: FakeSlack
) -> None:
    _admin_group(services, fake_slack, "U0DAVE")
    event = {"type": "app_home_opened", "user": "U0DAVE", "channel": "D0DAVE", "tab": "home"}
    assert slack.event(event, event_id="EvGroupHome").status_code == 200
    wait(lambda: "U0DAVE" in fake_slack.home_views)
    view = json.dumps(fake_slack.home_views["U0DAVE"])
    assert "*Open anomalies* (all: you are an admin)" in view and "service BigQuery on" in view


def test_group_admins_extend_and_approve_exemptions_from_buttons(
    services: Services, slack: SlackClientSim, fake_slack: FakeSlack, clock: Clock
) -> None:
    run_job(services, "lifecycle")
    denied = _press(slack, fake_slack, "ttl_extend_1d", BOB_BOX, "U0DAVE")
    assert "only bob@example.com (the owner) or an admin" in denied.text
    _admin_group(services, fake_slack, "U0DAVE")
    before = _row(services).expires_at
    extended = _press(slack, fake_slack, "ttl_extend_1d", BOB_BOX, "U0DAVE")
    assert "set by dave@example.com" in json.dumps(extended.payload)
    assert _row(services).expires_at != before

    _press(slack, fake_slack, "ttl_exempt", BOB_BOX, "U0BOB")
    [request] = [m for m in fake_slack.messages() if "asks that" in m.text]
    exemption_id = next(
        e["value"] for b in request.blocks or [] if b["type"] == "actions"
        for e in b["elements"] if e["action_id"] == "ttl_exempt_approve"
    )
    stranger = _press(slack, fake_slack, "ttl_exempt_approve", exemption_id, "U0CAROL")
    assert "only bob@example.com (manager of team data) or an admin" in stranger.text
    decided = _press(slack, fake_slack, "ttl_exempt_approve", exemption_id, "U0DAVE")
    assert "approved by dave@example.com" in decided.text
    assert _row(services).state == "exempt"


def test_a_group_slack_cannot_list_grants_nothing(
    services: Services, slack: SlackClientSim, fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture
) -> None:
    services.config = services.config.model_copy(update={"admin_groups": ["S0GONE"]})
    with caplog.at_level(logging.WARNING, logger="bot.admins"):
        refused = _ask(slack, fake_slack, "pause-actions", "U0DAVE")
    assert "only admins" in json.dumps(refused.payload)
    assert not _paused(services)
    [call] = fake_slack.calls("usergroups.users.list")
    assert call.response == {"ok": False, "error": "no_such_subteam"}
    assert any("S0GONE" in r.getMessage() and "no_such_subteam" in r.getMessage()
               for r in caplog.records)
    # config admins are unaffected by a broken group
    paused = _ask(slack, fake_slack, "pause-actions", "U0ALICE")
    assert "paused by alice@example.com" in paused.text
