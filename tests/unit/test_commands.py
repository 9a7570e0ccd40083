from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.commands import USAGE, Command, UserRef, parse
from bot.durations import parse_span, parse_until
from bot.errors import CommandError

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Command("help")),
        ("help", Command("help")),
        ("costs", Command("costs", scope="me", period="7d")),
        ("costs me 30d", Command("costs", scope="me", period="30d")),
        ("costs team data mtd", Command("costs", scope="team", target="data", period="mtd")),
        ("costs resource i-123", Command("costs", scope="resource", target="i-123", period="7d")),
        ("costs account 1111 7d", Command("costs", scope="account", target="1111", period="7d")),
        ("costs mtd", Command("costs", scope="me", period="mtd")),
        ("anomalies", Command("anomalies")),
        ("resources", Command("resources", scope="me")),
        ("resources unowned", Command("resources", scope="unowned")),
        ("resources team web", Command("resources", scope="team", target="web")),
        ("resources <@U123ABC|bob>", Command("resources", scope="user",
                                             user=UserRef(user_id="U123ABC"))),
        ("resources @Bob@Example.com", Command("resources", scope="user",
                                               user=UserRef(email="bob@example.com"))),
        ("owner i-1 <@U42>", Command("owner", target="i-1", user=UserRef(user_id="U42"))),
        ("digest", Command("digest")),
        ("envs", Command("envs")),
        ("env qa", Command("env", target="qa")),
        ("book qa 3d", Command("book", target="qa", duration="3d")),
        ("book qa 3d OPS-12", Command("book", target="qa", duration="3d", ticket="OPS-12")),
        ("release qa", Command("release", target="qa")),
        ("extend qa 1d", Command("extend", target="qa", duration="1d")),
        ("ttl i-1", Command("ttl", target="i-1")),
        ("  COSTS  team   data ", Command("costs", scope="team", target="data", period="7d")),
        # keywords in any case (phones capitalise), names as typed
        ("Costs Team Data 30D", Command("costs", scope="team", target="Data", period="30d")),
        ("costs Me", Command("costs", scope="me", period="7d")),
        ("Resources Unowned", Command("resources", scope="unowned")),
        ("resources ME", Command("resources", scope="me")),
        ("costs Resource i-ABC", Command("costs", scope="resource", target="i-ABC",
                                         period="7d")),
    ],
)
def test_grammar(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Slack's escaped text: a display name after the pipe may hold spaces
        ("owner web-1 <@U0BOB|Bob Smith>",
         Command("owner", target="web-1", user=UserRef(user_id="U0BOB"))),
        ("owner web-1 <mailto:bob@example.com|bob@example.com>",
         Command("owner", target="web-1", user=UserRef(email="bob@example.com"))),
        ("resources <@W0ENTERPRISE>", Command("resources", scope="user",
                                              user=UserRef(user_id="W0ENTERPRISE"))),
        ("costs resource R&amp;D-bucket",
         Command("costs", scope="resource", target="R&D-bucket", period="7d")),
        ("costs resource <https://bucket.example.com|bucket.example.com> 30d",
         Command("costs", scope="resource", target="https://bucket.example.com", period="30d")),
    ],
)
def test_slack_escapes_are_read_as_what_was_typed(text: str, expected: Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("frobnicate", "I don't know `frobnicate`"),
        ("costs team", "usage: `costs"),
        ("costs planet mars", "usage: `costs"),
        ("costs 90d", "`90d` is not a period I know: use 7d, 30d or mtd"),
        ("costs team data 2w", "`2w` is not a period I know"),
        ("costs team data YTD", "`YTD` is not a period I know"),
        ("resources team", "usage: `resources [me | @user | team T | unowned]`"),
        ("resources bob", "`bob` is not a user"),
        ("owner i-1", "usage: `owner R @user`"),
        ("owner i-1 bob", "is not a user"),
        ("book qa", "usage: `book"),
        ("book qa 3d not-a-key", "not a Jira issue key"),
        ("help me", "usage: `help`"),
        ('costs "unterminated', "could not read"),
        ("extend qa", "usage: `extend"),
    ],
)
def test_bad_text_names_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(CommandError) as info:
        parse(text)
    assert fragment in str(info.value)


def test_help_gives_each_command_a_line_and_what_it_does() -> None:
    """Every usage line starts with a command the parser knows and says what it does, on the
    line or on the lines under it; no description is itself a command."""
    column = USAGE.splitlines()[0].index("this list")
    entries: list[tuple[str, str]] = []
    for line in USAGE.splitlines():
        if line.startswith("DURATION"):
            continue
        if line.startswith(" "):  # a description continued under its command
            assert line[:column].isspace(), line
            command, text = entries[-1]
            entries[-1] = (command, f"{text} {line.strip()}")
            continue
        command, _, text = line.partition("   ")
        entries.append((command.strip(), text.strip()))
    verbs = [command.split()[0] for command, _ in entries]
    assert len(verbs) == len(set(verbs))
    for command, text in entries:
        assert text, f"{command}: no description"
        with pytest.raises(CommandError):  # as "book E DURATION   release E" once did
            parse(text)  # the description is not itself a command
        for alternative in re.split(r"\s\|\s(?![^\[(]*[\])])", command):  # not inside [] or ()
            try:
                parse(alternative.split()[0])
            except CommandError as exc:  # a usage message is fine: the verb is known
                assert "I don't know" not in str(exc), command
    assert set(verbs) >= {"help", "costs", "anomalies", "resources", "owner", "digest", "envs",
                          "env", "book", "release", "extend", "ttl", "pause-actions"}


@pytest.mark.parametrize(
    ("text", "delta"),
    [("30m", timedelta(minutes=30)), ("4h", timedelta(hours=4)), ("3d", timedelta(days=3)),
     ("1w", timedelta(weeks=1)), ("3D", timedelta(days=3))],
)
def test_relative_durations(text: str, delta: timedelta) -> None:
    assert parse_until(text, now=NOW) == NOW + delta
    assert parse_span(text) == delta


def test_absolute_durations() -> None:
    assert parse_until("2026-12-01", now=NOW) == datetime(2026, 12, 1, 23, 59, tzinfo=UTC)
    assert parse_until("2026-12-01T18:00", now=NOW) == datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    assert parse_until("2026-12-01T18:00+01:00", now=NOW) == datetime(2026, 12, 1, 17, 0,
                                                                        tzinfo=UTC)


@pytest.mark.parametrize("text", ["3x", "0d", "-1d", "d3", "tomorrow", "", "2026-13-01"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(CommandError):
        parse_until(text, now=NOW)


def test_past_moments_are_refused() -> None:
    with pytest.raises(CommandError, match="in the past"):
        parse_until("2026-11-01", now=NOW)
    with pytest.raises(CommandError):
        parse_span("2026-12-01")
