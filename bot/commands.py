"""The `/finops` grammar: one parser shared by Slack, the console transport and the shell.

    help                                  costs [me | team T | resource R | account A] [7d|30d|mtd]
    anomalies                             resources [me | @user | team T | unowned]
    owner R @user                         digest
    envs                                  env E
    book E DURATION [JIRA-KEY]            release E
    extend (E | R) DURATION               ttl R
    pause-actions                         resume-actions       (admins)
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from bot.errors import CommandError

PERIODS = ("7d", "30d", "mtd")
_JIRA_KEY = re.compile(r"[A-Z][A-Z0-9_]+-[0-9]+")  # ASCII digits; fullmatch: no "\n" after
_SLACK_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
# What Slack escapes in a command's text (the app's command has should_escape on): a mention
# <@U123|bob smith>, an email <mailto:bob@example.com|bob@example.com>, a channel or a link
# <#C123|name>, <https://x|x>; then & < > as entities.
_SLACK_ESCAPED = re.compile(r"<(@[UW][A-Z0-9]+|mailto:[^<>|]+|[^<>|@]+)(?:\|[^<>]*)?>")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))

USAGE = """\
help                                   this list
costs [me | team T | resource R | account A] [7d|30d|mtd]
                                       total, change, top services and resources
                                       (default: yours over 7d)
anomalies                              open cost anomalies
resources [me | @user | team T | unowned]
                                       each resource, its owner and its cost,
                                       costliest first (default: yours)
owner R @user                          reassign a resource (team manager or admin)
digest                                 your digest, now
envs                                   shared environments and who holds them
env E                                  one environment: booking, deploys, cost
book E DURATION [JIRA-KEY]             book an environment, maybe for a ticket
release E                              give a booked environment back
extend (E | R) DURATION                extend a booking or a resource's TTL
ttl R                                  a resource's TTL and its next step
pause-actions | resume-actions         stop or restart every stop/destroy (admins)
DURATION: 30m, 4h, 3d, 1w or an ISO date/time"""


@dataclass(frozen=True, slots=True)
class UserRef:
    """A user named in a command: a Slack mention (user id) or an email."""

    user_id: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command: the verb and its arguments (unused ones stay None)."""

    verb: str
    scope: str | None = None  # me | team | resource | account | user | unowned
    target: str | None = None  # team name, resource, account, environment
    user: UserRef | None = None
    period: str | None = None
    duration: str | None = None
    ticket: str | None = None


def parse_user(word: str) -> UserRef:
    """``<@U123|name>`` (Slack), ``@someone@example.com`` or ``someone@example.com``."""
    mention = _SLACK_MENTION.match(word)
    if mention:
        return UserRef(user_id=mention.group(1))
    email = word.removeprefix("@").lower()
    if "@" in email and "." in email.rsplit("@", 1)[-1]:
        return UserRef(email=email)
    raise CommandError(f"`{word}` is not a user: mention them (@name) or give an email")


def _need(words: list[str], count: int, usage: str) -> None:
    if len(words) != count:
        raise CommandError(f"usage: `{usage}`")


def _keywords(words: list[str]) -> list[str]:
    """The words with the grammar's keywords in lower case (phones capitalise what is typed);
    names, ids and targets keep their case."""
    return [w.lower() if w.lower() in _KEYWORDS else w for w in words[:1]] + words[1:]


_KEYWORDS = frozenset({"me", "team", "resource", "account", "unowned"})


def _costs(words: list[str]) -> Command:
    period = None
    if words and words[-1].lower() in PERIODS:
        period = words.pop().lower()
    words = _keywords(words)
    if not words or words == ["me"]:
        return Command("costs", scope="me", period=period or "7d")
    if len(words) == 2 and words[0] in ("team", "resource", "account"):
        return Command("costs", scope=words[0], target=words[1], period=period or "7d")
    if period is None and words and _PERIOD_LIKE.fullmatch(words[-1]):
        raise CommandError(f"`{words[-1]}` is not a period I know: use 7d, 30d or mtd "
                           "(month to date)")
    raise CommandError("usage: `costs [me | team T | resource R | account A] [7d|30d|mtd]`")


_PERIOD_LIKE = re.compile(r"\d+[a-z]{1,6}|[a-z]td", re.IGNORECASE)  # 90d, 2weeks, ytd


def _resources(words: list[str]) -> Command:
    words = _keywords(words)
    if not words or words == ["me"]:
        return Command("resources", scope="me")
    if words == ["unowned"]:
        return Command("resources", scope="unowned")
    if len(words) == 2 and words[0] == "team":
        return Command("resources", scope="team", target=words[1])
    if len(words) == 1 and words[0] != "team":  # a lone `team` lacks its T: the usage says so
        return Command("resources", scope="user", user=parse_user(words[0]))
    raise CommandError("usage: `resources [me | @user | team T | unowned]`")


def _book(words: list[str]) -> Command:
    if len(words) not in (2, 3):
        raise CommandError("usage: `book E DURATION [JIRA-KEY]`")
    ticket = words[2] if len(words) == 3 else None
    if ticket is not None and not _JIRA_KEY.fullmatch(ticket):
        raise CommandError(f"`{ticket}` is not a Jira issue key like OPS-123")
    return Command("book", target=words[0], duration=words[1], ticket=ticket)


def _plain(text: str) -> str:
    """The text as typed, from Slack's escaped form: a mention keeps only its user id (the
    name after the pipe may hold spaces), an email or a link its address."""

    def unescaped(match: re.Match[str]) -> str:
        target = match.group(1)
        return f"<{target}>" if target.startswith("@") else target.removeprefix("mailto:")

    text = _SLACK_ESCAPED.sub(unescaped, text)
    for entity, character in _ENTITIES:
        text = text.replace(entity, character)
    return text


def parse(text: str) -> Command:
    """Parse command text (without the `/finops` prefix); raises CommandError with usage."""
    if "\x00" in text:  # no name contains one, and PostgreSQL refuses it in any query
        raise CommandError("could not read that command (it contains a NUL character)")
    try:
        words = shlex.split(_plain(text).strip())
    except ValueError as exc:
        raise CommandError(f"could not read that command ({exc})") from exc
    if not words:
        return Command("help")
    verb, rest = words[0].lower(), words[1:]
    if verb in ("help", "anomalies", "digest", "envs", "pause-actions", "resume-actions"):
        _need(rest, 0, verb)
        return Command(verb)
    if verb == "costs":
        return _costs(rest)
    if verb == "resources":
        return _resources(rest)
    if verb == "owner":
        _need(rest, 2, "owner R @user")
        return Command("owner", target=rest[0], user=parse_user(rest[1]))
    if verb in ("env", "release", "ttl"):
        _need(rest, 1, f"{verb} {'R' if verb == 'ttl' else 'E'}")
        return Command(verb, target=rest[0])
    if verb == "book":
        return _book(rest)
    if verb == "extend":
        _need(rest, 2, "extend (E | R) DURATION")
        return Command("extend", target=rest[0], duration=rest[1])
    raise CommandError(f"I don't know `{words[0]}`.")
