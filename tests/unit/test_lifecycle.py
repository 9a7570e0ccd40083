"""TTL resolution and workflow decisions (pure), and the lifecycle Block Kit (snapshot-tested).

Regenerate the snapshots after an intended change with ``UPDATE_SNAPSHOTS=1 pytest tests/unit``.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot import blocks_lifecycle as blocks
from bot import lifecycle as flow
from bot.config_sections import LifecycleConfig, TtlPolicy
from bot.errors import CommandError
from bot.ttl import Override, matching_policy, resolve
from tests.unit.snapshot import check_message

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
DEFAULTS = LifecycleConfig()
POLICIES = [
    TtlPolicy(name="team-wide", team="web", max_age="60d"),
    TtlPolicy(name="team-vms", team="web", resource_type="Instance", max_age="14d",
              action="stop", grace="2h"),
    TtlPolicy(name="sandbox-account", account="999", max_age="7d", action="destroy"),
]


def _resolve(**kw: Any) -> Any:
    args: dict[str, Any] = {
        "tags": {}, "first_seen": date(2026, 11, 1), "created_at": None, "team": "web",
        "account": "111", "resource_type": "Instance", "policies": POLICIES,
        "defaults": DEFAULTS,
    }
    args.update(kw)
    return resolve(**args)


def test_most_specific_source_wins_and_says_where_it_comes_from() -> None:
    by_policy = _resolve()
    assert by_policy.source == "policy:team-vms (max age 14d)" and by_policy.action == "stop"
    assert by_policy.expires_at == datetime(2026, 11, 15, tzinfo=UTC)
    assert by_policy.grace == timedelta(hours=2)
    tagged = _resolve(tags={" TTL ": "3d"})
    assert tagged.source == "tag:ttl=3d" and tagged.expires_at == datetime(2026, 11, 4,
                                                                            tzinfo=UTC)
    assert tagged.action == "stop"  # the matching policy still says what happens
    extended = _resolve(tags={"ttl": "3d"},
                        override=Override(NOW + timedelta(days=2), "bob@example.com", NOW))
    assert extended.expires_at == NOW + timedelta(days=2)
    assert extended.source == "an extension by bob@example.com on 2026-11-27 10:00 UTC"
    assert _resolve(tags={"ttl": "never"}).expires_at is None
    # an unreadable expires-at gives way to a readable ttl tag, not to the policy
    both = _resolve(tags={"expires-at": "end of sprint", "ttl": "3d"})
    assert both.source == "tag:ttl=3d" and both.expires_at == tagged.expires_at
    assert _resolve(tags={"expires-at": "end of sprint"}).source.startswith("policy:team-vms")
    assert _resolve(team="data", account="111") is None  # no tag, no policy: no TTL
    created = _resolve(created_at=datetime(2026, 11, 10, 6, tzinfo=UTC))
    assert created.expires_at == datetime(2026, 11, 24, 6, tzinfo=UTC)  # age from creation


def test_policy_specificity_account_beats_team_and_more_criteria_beat_fewer() -> None:
    assert matching_policy(POLICIES, team="web", account="111",
                           resource_type="bucket").name == "team-wide"  # type: ignore[union-attr]
    assert matching_policy(POLICIES, team="web", account="999",
                           resource_type="bucket").name == "sandbox-account"  # type: ignore[union-attr]
    assert matching_policy(POLICIES, team="web", account="999",
                           resource_type="instance").name == "team-vms"  # type: ignore[union-attr]
    assert matching_policy(POLICIES, team=None, account="1", resource_type="x") is None


def test_no_tag_and_no_policy_falls_back_to_notify() -> None:
    ttl = _resolve(team="data", tags={"expires-at": "2026-12-01"})
    assert ttl.action == "notify" and ttl.policy is None
    assert ttl.expires_at == datetime(2026, 12, 1, 23, 59, tzinfo=UTC)


@pytest.mark.parametrize(("current", "text", "expected"), [
    (NOW + timedelta(days=1), "3d", NOW + timedelta(days=4)),  # from the current expiry
    (NOW - timedelta(days=5), "1d", NOW + timedelta(days=1)),  # expired: from now
    (None, "2w", NOW + timedelta(weeks=2)),
    (NOW + timedelta(days=1), "2026-12-05", datetime(2026, 12, 5, 23, 59, tzinfo=UTC)),
])
def test_extension_counts_from_the_current_expiry(current: datetime | None, text: str,
                                                  expected: datetime) -> None:
    assert flow.extended_expiry(current, text, now=NOW, max_extension="90d") == expected


@pytest.mark.parametrize(("text", "error"), [
    ("2026-11-28", "would not extend it"),
    ("2026-11-01", "in the past"),
    ("20w", "longest extension"),
    ("soon", "not a duration"),
])
def test_extension_never_shortens_and_respects_the_max(text: str, error: str) -> None:
    with pytest.raises(CommandError, match=error):
        flow.extended_expiry(NOW + timedelta(days=3), text, now=NOW, max_extension="90d")


def _check(**kw: Any) -> flow.Recheck:
    base: dict[str, Any] = {
        "planned_expiry": NOW - timedelta(hours=1), "fresh_expiry": NOW - timedelta(hours=1),
        "has_ttl": True, "exists": True, "protected": False,
        "warned_at": NOW - timedelta(days=2), "notified_at": None,
    }
    base.update(kw)
    return flow.Recheck(**base)


@pytest.mark.parametrize(("change", "reason"), [
    ({}, None),
    ({"exists": False}, "it no longer exists"),
    ({"protected": True}, "it is protected (tag or account)"),
    ({"fresh_expiry": NOW + timedelta(days=1)}, "its TTL changed since the warning"),
    ({"has_ttl": False, "fresh_expiry": None}, "its TTL changed since the warning"),
    ({"warned_at": None}, "no warning was delivered"),
    ({"warned_at": NOW - timedelta(hours=3)},
     "the grace period after the warning has not passed"),
    ({"notified_at": NOW - timedelta(minutes=5)},
     "the grace period after the warning has not passed"),
])
def test_the_recheck_right_before_a_destroy(change: dict[str, Any], reason: str | None) -> None:
    assert flow.refusal(_check(**change), action="destroy", grace=timedelta(hours=24),
                        now=NOW) == reason


def test_a_stop_needs_no_grace_check_but_the_same_ttl_and_existence() -> None:
    assert flow.refusal(_check(warned_at=None), action="stop", grace=timedelta(hours=24),
                        now=NOW) is None
    assert flow.refusal(_check(exists=False), action="stop", grace=timedelta(hours=24),
                        now=NOW) == "it no longer exists"


def test_steps_and_their_timing() -> None:
    assert flow.next_step("active", "destroy") == "warn"
    assert flow.next_step("warned", "notify-then-destroy") == "notice"
    assert flow.next_step("warned", "destroy") == "act"
    assert flow.next_step("due", "notify-then-destroy") == "act"
    assert flow.next_step("done", "destroy") is None and flow.next_step("exempt", "stop") is None
    late = flow.after_warning(action="destroy", expires_at=NOW - timedelta(days=1),
                              grace=timedelta(hours=24), now=NOW)
    assert late == NOW + timedelta(hours=24)  # a late warning still leaves the grace period
    early = flow.after_warning(action="destroy", expires_at=NOW + timedelta(days=2),
                               grace=timedelta(hours=24), now=NOW)
    assert early == NOW + timedelta(days=2)
    assert flow.after_warning(action="notify", expires_at=NOW - timedelta(days=1),
                              grace=timedelta(hours=24), now=NOW) == NOW
    assert [flow.retry_delay(n) for n in (1, 2, 3, 20)] == [
        timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=8), timedelta(hours=6)]


def test_protection_by_tag_or_account() -> None:
    rules = LifecycleConfig(protected_tags={"Do-Not-Delete": "TRUE"}, protected_accounts=["42"])
    assert flow.is_protected({"do-not-delete": "true"}, "1", rules)
    assert flow.is_protected({}, "42", rules)
    assert not flow.is_protected({"do-not-delete": "false"}, "1", rules)


VIEW = blocks.TtlView(
    resource_id="arn:aws:ec2:us-east-1:222222222222:instance/i-0a1b2c3d4e5f60020",
    name="perf-test-bob", owner="bob@example.com", team="data",
    expires_at=NOW + timedelta(hours=20), source="tag:ttl=2026-11-28", action="destroy",
    state="warned", next_at=NOW + timedelta(hours=20), daily_cost=11.25,
)
CASES: dict[str, Any] = {
    "ttl_warning": lambda: blocks.warning_message(VIEW),
    "ttl_warning_escalated": lambda: blocks.warning_message(
        VIEW, escalated_from="its owner is unknown"),
    "ttl_notice": lambda: blocks.notice_message(VIEW, destroy_at=NOW + timedelta(days=1)),
    "ttl_would_destroy": lambda: blocks.acted_message(VIEW, dry_run=True),
    "ttl_destroyed": lambda: blocks.acted_message(VIEW, dry_run=False),
    "ttl_show": lambda: blocks.ttl_message(VIEW, now=NOW, dry_run=False),
    "ttl_show_dry_run": lambda: blocks.ttl_message(VIEW, now=NOW, dry_run=True),
    "ttl_show_done": lambda: blocks.ttl_message(
        dataclasses.replace(VIEW, state="done", outcome="dry run: would destroy", next_at=None),
        now=NOW + timedelta(days=1), dry_run=True),
    "ttl_show_overdue": lambda: blocks.ttl_message(
        dataclasses.replace(VIEW, state="active", next_at=NOW - timedelta(days=4)),
        now=NOW + timedelta(days=1), dry_run=True),
    "ttl_exemption_request": lambda: blocks.exemption_request_message(
        VIEW, exemption_id=7, requester="bob@example.com", reason="load test until Friday"),
    "ttl_cap": lambda: blocks.cap_message(acted=10, remaining=32, cap=10),
    "ttl_unreachable": lambda: blocks.unreachable_message(
        dataclasses.replace(VIEW, owner=None, name="old-snapshot-restore"),
        now=NOW + timedelta(days=1)),
    "ttl_failed": lambda: blocks.failure_message(VIEW, error="RequestLimitExceeded",
                                                 attempts=2, retry_at=NOW),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_message_snapshots(name: str) -> None:
    check_message(name, CASES[name]())


def test_the_extend_buttons_are_those_max_extension_lets_through() -> None:
    # max_extension 5d, expiring in 20 h: 1d and 3d fit, 7d would be refused on click
    cur = VIEW.expires_at
    assert cur is not None
    room = NOW + timedelta(days=5) - cur

    def offered(view: blocks.TtlView) -> list[str]:
        return [e["action_id"] for e in blocks.warning_buttons(view)["elements"]
                if e["action_id"].startswith("ttl_extend_")]

    assert offered(dataclasses.replace(VIEW, extend_room=room)) == [
        "ttl_extend_1d", "ttl_extend_3d"]
    for choice in ("1d", "3d"):  # and each one offered is granted
        flow.extended_expiry(cur, choice, now=NOW, max_extension="5d")
    with pytest.raises(CommandError, match="longest extension allowed"):
        flow.extended_expiry(cur, "7d", now=NOW, max_extension="5d")
    assert offered(dataclasses.replace(VIEW, extend_room=timedelta(hours=12))) == []
    assert offered(VIEW) == ["ttl_extend_1d", "ttl_extend_3d", "ttl_extend_7d"]
