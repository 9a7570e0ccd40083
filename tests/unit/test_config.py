from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_config, parse_config
from bot.errors import ConfigError


def test_demo_config_loads() -> None:
    config = load_config(None)
    assert set(config.teams) == {"platform", "data", "web"}
    assert {e.name for e in config.environments} == {"staging-1", "staging-2", "qa"}
    assert config.cost_metric == "EffectiveCost"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("teams: {web: {budget: lots}}", "teams.web.budget"),
        ("teams: {web: {budget: -5}}", "teams.web.budget"),
        ("rules: [{name: r, team: nope}]", "unknown team 'nope'"),
        ("environments: [{name: e, team: nope}]", "environments.0.team: unknown team 'nope'"),
        ("teams: {web: {}}\nenvironments: [{name: e, bookers: [web, wbe]}]",
         "environments.0.bookers: 'wbe' is neither an email nor a configured team"),
        ("rules: [{name: r}]", "rules.0"),
        ("rules: [{name: r, owner: a@b.c, match: {name_regex: '('}}]", "regular expression"),
        ("accounts: [{name: a, provider: oracle}]", "accounts.0"),
        ("accounts: [{name: a, provider: azure}]", "accounts.0.azure.scope"),
        ("cost_metric: Cheapest", "cost_metric"),
        ("surprise: 1", "surprise"),
        ("lifecycle: {sweep: every minute}",
         "lifecycle.sweep: 'every minute' is not a crontab schedule like '*/15 * * * *'"),
        ("jobs: {ingest: '0 */6 * *'}", "jobs.ingest: '0 */6 * *' is not a crontab schedule"),
        ("digest: {timezone: Mars/Olympus}",
         "digest.timezone: 'Mars/Olympus' is not a time zone name like 'Europe/Berlin'"),
        ("schedules: [{name: n, stop_at: '19:00', start_at: '07:00', timezone: CEST}]",
         "schedules.0.timezone: 'CEST' is not a time zone name"),
        ("teams: {web: {manager: alice}}", "teams.web.manager: 'alice' is not an email address"),
        ("teams: {web: {members: [bob@example.com, carol]}}",
         "teams.web.members: 'carol' is not an email address"),
        ("admins: ['@alice']", "admins: '@alice' is not an email address"),
        ("command: finops", "command: 'finops' is not a slash command like /finops"),
        ("teams: {web: {currency: dollars}}",
         "teams.web.currency: 'dollars' is not a currency code like USD"),
        ("schedules: [{name: n, stop_at: '19:00', start_at: '07:00'}, "
         "{name: n, stop_at: '20:00', start_at: '06:00'}]",
         "schedules: the name 'n' is used twice"),
        ("schedules: [{name: n, stop_at: '19:00', start_at: '19:00'}]",
         "schedules.0: stop_at and start_at are the same time"),
        ("teams: {web: {slack_channel: web costs}}",
         "teams.web.slack_channel: 'web costs' is not a Slack channel like #team-costs"),
        ("environments: [{name: e, slack_channel: '#a#b'}]", "environments.0.slack_channel"),
        ("environments: [{name: 'staging one'}]",
         "environments.0.name: 'staging one' is not one word: `/finops book` could not name it"),
        ("environments: [{name: e, max_booking: 1d, remind_before: 1d}]",
         "environments.0: remind_before (1d) is not shorter than max_booking (1d): no booking "
         "would be reminded"),
        ("lifecycle: {admin_channel: ''}", "lifecycle.admin_channel"),
        ("accounts: [{name: g, provider: gcp, bigquery_table: billing_export}]",
         "accounts.0.gcp.bigquery_table: 'billing_export' is not a BigQuery table path"),
        ("teams: [unclosed", "line 1"),
        ("- just\n- a list", "top level must be a mapping"),
    ],
)
def test_bad_config_names_file_key_and_problem(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="finops.yaml")
    message = str(info.value)
    assert message.startswith("finops.yaml")
    assert fragment in message
    assert "\n" not in message
    assert "Value error" not in message and "(top level)" not in message  # pydantic's words


def test_a_check_across_sections_names_its_key_first() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("rules: [{name: r, team: nope}]", source="finops.yaml")
    assert str(info.value) == "finops.yaml: rules.0.team: unknown team 'nope'"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_emails_are_compared_as_slack_gives_them() -> None:
    # Slack's and the tags' emails are compared in lower case: a manager written with
    # capitals in the config must still be recognised as that person
    config = parse_config("admins: [' Root@Example.COM ']\nteams: {web: {manager: "
                          "Carol@Example.com, members: [Dave@Example.com]}}", source="f.yaml")
    assert config.admins == ["root@example.com"]
    assert config.teams["web"].manager == "carol@example.com"
    assert config.teams["web"].members == ["dave@example.com"]


def test_a_currency_is_kept_as_billing_files_write_it() -> None:
    config = parse_config("teams: {web: {currency: eur}}", source="f.yaml")
    assert config.teams["web"].currency == "EUR"  # cost rows say EUR: they must match
