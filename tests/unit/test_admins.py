"""is_admin: the config's admins in any case, members of admin groups when groups can be asked;
who_may: who a refusal names."""

from __future__ import annotations

import pytest

from bot.admins import is_admin, who_may
from bot.config import parse_config
from bot.errors import ConfigError

CONFIG = parse_config("admins: [Alice@Example.com]\nadmin_groups: [S0FINOPS, S0SRE]\n",
                      source="test.yaml")


def test_config_admins_in_any_case_without_asking_groups() -> None:
    asked: list[str] = []

    def members(group: str) -> set[str]:
        asked.append(group)
        return set()

    assert is_admin(CONFIG, " alice@example.COM", group_members=members)
    assert asked == []
    assert not is_admin(CONFIG, "")


def test_members_of_any_admin_group() -> None:
    groups = {"S0FINOPS": {"dave@example.com"}, "S0SRE": {"erin@example.com"}}
    assert is_admin(CONFIG, "Erin@example.com", group_members=lambda g: groups[g])
    assert not is_admin(CONFIG, "bob@example.com", group_members=lambda g: groups[g])
    assert not is_admin(CONFIG, "erin@example.com")  # nobody to ask: config admins only


def test_admin_groups_must_be_slack_user_group_ids() -> None:
    with pytest.raises(ConfigError, match=r"admin_groups.*'@finops' is not a Slack user group"):
        parse_config("admin_groups: ['@finops']\n", source="test.yaml")


def test_a_refusal_names_the_owner_and_the_team_manager_once() -> None:
    config = parse_config("teams:\n  data: {manager: Carol@Example.com}\n  web: {}\n",
                          source="test.yaml")
    owner = ("bob@example.com", "the owner")
    assert who_may(config, "data", owner) == (
        "bob@example.com (the owner), carol@example.com (manager of team data) or an admin")
    assert who_may(config, "data", ("carol@example.com", "the holder")) == (
        "carol@example.com (the holder) or an admin")  # the holder manages the team too
    assert who_may(config, "web", owner) == "bob@example.com (the owner) or an admin"
    assert who_may(config, None, (None, "the owner")) == "an admin"  # unowned, no team
    assert who_may(config, "data") == "carol@example.com (manager of team data) or an admin"
