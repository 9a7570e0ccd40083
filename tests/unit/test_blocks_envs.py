"""Block Kit of shared environments: snapshot-tested, and each within Slack's limits.

Regenerate the snapshots after an intended change with ``UPDATE_SNAPSHOTS=1 pytest tests/unit``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import blocks_envs
from bot.blocks_envs import EnvView
from bot.booking import Held
from tests.fakes.slack_blocks import message_errors, view_errors
from tests.unit.snapshot import check_message, check_snapshot

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
HELD = Held("b-1", "staging-1", "bob@example.com", NOW, NOW + timedelta(days=3), "OPS-12",
            "U0BOB")
FREE = EnvView("staging-2", team="platform", rate={"USD": 18.8}, resources=1)
TAKEN = EnvView("staging-1", team="platform", held=HELD, queue=["<@U0CAROL>"],
                rate={"USD": 18.8, "EUR": 2.5}, resources=3)

CASES: dict[str, Any] = {
    "envs_list": lambda: blocks_envs.envs_message([TAKEN, FREE]),
    "envs_none": lambda: blocks_envs.envs_message([]),
    "env_taken": lambda: blocks_envs.env_message(TAKEN),
    "env_free": lambda: blocks_envs.env_message(FREE),
    "env_booked": lambda: blocks_envs.booked_message(TAKEN, {"USD": 56.4}),
    "env_busy": lambda: blocks_envs.busy_message(TAKEN),
    "env_extended": lambda: blocks_envs.extended_message(TAKEN, NOW + timedelta(days=2),
                                                         {"USD": 18.8}),
    "env_released_expired": lambda: blocks_envs.released_message(
        FREE, HELD, by="scheduler", reason="expired", ended=HELD.until,
        actual={"USD": 50.12}, estimated_days=2),
    "env_released_jira": lambda: blocks_envs.released_message(
        FREE, HELD, by="jira:Dana", reason="jira", ended=NOW + timedelta(hours=5),
        actual={"USD": 3.9}, estimated_days=0),
    "env_acquired": lambda: blocks_envs.acquired_message(TAKEN, {"USD": 56.4}),
    "env_queued": lambda: blocks_envs.queued_message(TAKEN, 2),
    "env_reminder": lambda: blocks_envs.reminder_message(TAKEN, now=HELD.until -
                                                         timedelta(minutes=55)),
    "env_freed": lambda: blocks_envs.freed_for_you_message(FREE),
    "env_grant_failed": lambda: blocks_envs.hook_failed_message(
        "staging-1", "acquire", ["https://iam.example.com/grant: HTTP 500 (3 attempts)"]),
    "env_revoke_failed": lambda: blocks_envs.hook_failed_message(
        "staging-1", "release", ["revoke.sh: exit 1: no such role (3 attempts)"],
        mention="<@U0ALICE>"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_message_snapshots(name: str) -> None:
    check_message(name, CASES[name]())


def test_book_modal_snapshot_and_limits() -> None:
    view = blocks_envs.book_modal("a-rather-long-environment-name", today=NOW,
                                  metadata={"env": "a-rather-long-environment-name",
                                            "channel": "C0GENERAL"})
    assert view_errors(view, kind="modal") == []
    check_snapshot("env_book_modal", view)


def test_buttons_follow_the_state() -> None:
    free_ids = [e["action_id"] for e in blocks_envs.buttons(FREE)["elements"]]
    taken_ids = [e["action_id"] for e in blocks_envs.buttons(TAKEN)["elements"]]
    assert free_ids == ["env_book"]
    # held 3 days of its 7: an extension of 7 days could never be granted, so none is offered
    assert taken_ids == ["env_release", "env_extend_1d", "env_extend_3d", "env_notify"]
    full = replace(TAKEN, held=replace(HELD, until=HELD.started_at + timedelta(days=7)))
    assert [e["action_id"] for e in blocks_envs.buttons(full, for_holder=True)["elements"]] == [
        "env_release"]
    short = replace(TAKEN, max_booking="30d")
    assert [e["action_id"] for e in blocks_envs.buttons(short)["elements"]] == [
        "env_release", "env_extend_1d", "env_extend_3d", "env_extend_7d", "env_notify"]


def test_many_environments_stay_within_limits() -> None:
    views = [EnvView(f"env-{i:03d}-" + "x" * 60, held=HELD if i % 2 else None,
                     queue=["<@U0X>"] * 30) for i in range(80)]
    text, built = blocks_envs.envs_message(views)
    assert message_errors(built) == [] and len(built) <= 50
    assert "Showing 20 of 80" in json.dumps(built) and text.endswith("40 of 80 free")
