"""Booking rules: durations vs the max, extensions, who may do what, costs, Jira statuses."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot import booking
from bot.booking import Held
from bot.config import Config, parse_config
from bot.config_sections import Environment
from bot.errors import CommandError, ConfigError

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
CONFIG = parse_config("""
admins: [root@example.com]
teams:
  platform: {manager: alice@example.com, members: [alice@example.com, pat@example.com]}
  web: {manager: carol@example.com}
environments:
  - {name: staging, team: platform, max_booking: 7d}
  - {name: qa, team: platform, max_booking: 3d, bookers: [web, dave@example.com]}
""", source="test.yaml")
STAGING, QA = CONFIG.environments


def _held(started: datetime = NOW, until: datetime = NOW + timedelta(days=2),
          holder: str = "bob@example.com") -> Held:
    return Held("b1", "staging", holder, started, until)


def test_a_booking_ends_after_its_duration_within_the_max() -> None:
    assert booking.end_from_text(STAGING, "3d", now=NOW) == NOW + timedelta(days=3)
    assert booking.end_from_text(STAGING, "2026-11-28T18:00", now=NOW) == datetime(
        2026, 11, 28, 18, 0, tzinfo=UTC)
    with pytest.raises(CommandError, match="at most 3d"):
        booking.end_from_text(QA, "4d", now=NOW)
    with pytest.raises(CommandError, match="not a duration"):
        booking.end_from_text(STAGING, "3x", now=NOW)
    with pytest.raises(CommandError, match="in the past"):
        booking.end_from_text(STAGING, "2026-11-26T10:00", now=NOW)


def test_the_modal_end_is_read_in_the_persons_time_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    end = booking.end_from_picker(STAGING, date(2026, 11, 28), time(18, 0), tz=berlin, now=NOW)
    assert end == datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
    assert booking.end_from_picker(STAGING, date(2026, 11, 28), None, tz=UTC, now=NOW) == \
        datetime(2026, 11, 28, 23, 59, tzinfo=UTC)
    with pytest.raises(CommandError, match="in the past"):
        booking.end_from_picker(STAGING, date(2026, 11, 27), time(9, 0), tz=UTC, now=NOW)


def test_an_extension_counts_from_the_current_end_and_respects_the_max() -> None:
    held = _held(started=NOW - timedelta(days=1), until=NOW + timedelta(days=2))
    assert booking.extension_end(STAGING, held, "1d", now=NOW) == NOW + timedelta(days=3)
    # 7d in total from the start (Nov 26): four more days at most
    with pytest.raises(CommandError, match=r"at most 4d more \(until Thu Dec 03 10:00 UTC\)"):
        booking.extension_end(STAGING, held, "5d", now=NOW)
    # an absolute end earlier than the current end would shorten it: refused
    with pytest.raises(CommandError, match="never shortens"):
        booking.extension_end(STAGING, held, "2026-11-28T10:00", now=NOW)
    assert booking.extension_end(STAGING, held, "2026-11-30T12:00", now=NOW) == datetime(
        2026, 11, 30, 12, 0, tzinfo=UTC)
    ended = _held(started=NOW - timedelta(days=2), until=NOW - timedelta(minutes=1))
    with pytest.raises(CommandError, match="already ended"):
        booking.extension_end(STAGING, ended, "1d", now=NOW)
    full = _held(started=NOW - timedelta(days=5), until=NOW + timedelta(days=2))
    with pytest.raises(CommandError, match="no more time"):
        booking.extension_end(STAGING, full, "1h", now=NOW)


def test_an_extension_is_refused_while_someone_waits() -> None:
    held = _held()
    booking.check_nobody_waiting(STAGING, held, [])
    booking.check_nobody_waiting(STAGING, held, ["BOB@example.com"])  # only the holder
    with pytest.raises(CommandError, match="carol@example.com and 1 more is waiting"):
        booking.check_nobody_waiting(STAGING, held, ["carol@example.com", "dave@example.com"])


@pytest.mark.parametrize(("env", "email", "allowed"), [
    (STAGING, "anyone@example.com", True),  # no bookers: anyone
    (QA, "carol@example.com", True),  # manager of web, a listed team
    (QA, "dave@example.com", True),  # listed by email
    (QA, "Dave@Example.com", True),
    (QA, "pat@example.com", False),  # platform member, platform not listed...
    (QA, "alice@example.com", True),  # ...but alice manages qa's team: an admin of it
    (QA, "root@example.com", True),  # config admin
    (QA, "bob@example.com", False),
])
def test_who_may_book(env: Environment, email: str, allowed: bool) -> None:
    assert booking.may_book(CONFIG, env, email) is allowed


def test_only_the_holder_or_an_admin_releases_or_extends() -> None:
    held = _held()
    booking.check_may_manage(CONFIG, STAGING, held, "Bob@Example.com", "release")
    booking.check_may_manage(CONFIG, STAGING, held, "root@example.com", "release")
    booking.check_may_manage(CONFIG, STAGING, held, "alice@example.com", "extend")
    with pytest.raises(CommandError, match="only bob@example.com .* can release staging"):
        booking.check_may_manage(CONFIG, STAGING, held, "carol@example.com", "release")


def test_expected_and_actual_cost() -> None:
    daily = {"USD": {date(2026, 11, d): 10.0 + d for d in range(15, 27)},
             "EUR": {date(2026, 11, 26): 7.0}}
    rate = booking.daily_rate(daily, today=date(2026, 11, 27))
    assert rate["USD"] == pytest.approx(sum(10.0 + d for d in range(20, 27)) / 7)
    assert rate["EUR"] == pytest.approx(1.0)
    expected = booking.expected_cost(rate, NOW, NOW + timedelta(hours=36))
    assert expected["USD"] == pytest.approx(rate["USD"] * 1.5)
    # held from the 25th 12:00 to the 27th 06:00: half of the 25th and all of the 26th are
    # billed; the 27th has no data yet, so its quarter day is estimated at the rate
    actual, estimated = booking.actual_cost(
        daily, rate, datetime(2026, 11, 25, 12, tzinfo=UTC), datetime(2026, 11, 27, 6, tzinfo=UTC))
    assert estimated == 1
    assert actual["USD"] == pytest.approx(35.0 / 2 + 36.0 + rate["USD"] / 4)
    assert actual["EUR"] == pytest.approx(7.0 + 1.0 / 4)
    assert booking.daily_rate({}, today=date(2026, 11, 27)) == {}
    # released the moment it was booked: nothing held, so nothing estimated either
    at = datetime(2026, 11, 27, 6, tzinfo=UTC)
    assert booking.actual_cost(daily, rate, at, at) == ({"USD": 0.0, "EUR": 0.0}, 0)
    # nor a few seconds of it (shown as "Held 0m"); a minute of a day without data is estimated
    assert booking.actual_cost(daily, rate, at, at + timedelta(seconds=20))[1] == 0
    assert booking.actual_cost(daily, rate, at, at + timedelta(minutes=1))[1] == 1


@pytest.mark.parametrize(("configured", "status", "category", "releases"), [
    ([], "Done", "done", True),
    ([], "Shipped", "done", True),  # any status of the Done category
    ([], "Closed", None, True),
    ([], "resolved", "indeterminate", True),
    ([], "In Review", "indeterminate", False),
    (["Deployed"], "Done", "done", False),  # configured statuses replace the default
    (["Deployed"], "deployed", "indeterminate", True),
])
def test_which_jira_statuses_release(configured: list[str], status: str, category: str | None,
                                     releases: bool) -> None:
    env = Environment(name="e", jira_release_statuses=configured)
    assert booking.releases_on(env, status, category) is releases


def test_reminder_is_due_within_the_lead_time_once_per_end() -> None:
    held = _held(started=NOW - timedelta(days=1), until=NOW + timedelta(minutes=59))
    assert booking.reminder_due(STAGING, held, now=NOW)
    assert not booking.reminder_due(STAGING, _held(until=NOW + timedelta(minutes=61)), now=NOW)
    assert not booking.reminder_due(STAGING, _held(until=NOW), now=NOW)  # already over
    # booked for 30 minutes: no reminder the moment it starts
    short = _held(started=NOW, until=NOW + timedelta(minutes=30))
    assert not booking.reminder_due(STAGING, short, now=NOW)


def test_ticket_keys_and_spans() -> None:
    assert booking.check_ticket(" OPS-12 ") == "OPS-12"
    assert booking.check_ticket("") is None
    with pytest.raises(CommandError, match="not a Jira issue key"):
        booking.check_ticket("ops-12")
    assert booking.span_text(timedelta(days=3, hours=4, minutes=5)) == "3d 4h"
    assert booking.span_text(timedelta(minutes=45)) == "45m"
    assert booking.span_text(timedelta(0)) == "0m"


@pytest.mark.parametrize(("text", "fragment"), [
    ("environments: [{name: e, max_booking: forever}]", "environments.0.max_booking"),
    ("environments: [{name: e, hooks: [{url: 'https://x'}]}]", "needs secret_env"),
    ("environments: [{name: e, hooks: [{url: 'ftp://x', secret_env: S}]}]", "must start with"),
    ("environments: [{name: e, hooks: [{}]}]", "exactly one of url or command"),
    ("environments: [{name: e, hooks: [{command: x, events: [deploy]}]}]", "events"),
    ("environments: [{name: e}, {name: e}]", "the name 'e' is used twice"),
])
def test_bad_environment_config_fails_at_load(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match="finops.yaml") as info:
        parse_config(text, source="finops.yaml")
    assert fragment in str(info.value)


def test_config_finds_environments_by_name() -> None:
    assert isinstance(CONFIG, Config)
    assert CONFIG.environment("qa") is QA and CONFIG.environment("nope") is None
