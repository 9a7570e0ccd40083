"""The `/finops` grammar: any text parses or raises CommandError; every valid command parses
to the Command it was built from, and what parses renders back to the same Command."""

from __future__ import annotations

import shlex

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from bot.commands import PERIODS, Command, UserRef, parse
from bot.errors import CommandError
from tests.property import examples

VERBS = ("help", "costs", "anomalies", "resources", "owner", "digest", "envs", "env", "book",
         "release", "extend", "ttl", "pause-actions", "resume-actions")
KEYWORDS = ("me", "team", "resource", "account", "unowned", *PERIODS)

# a word as the user means it; it is quoted when written into the command text
words = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20),
    st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True),
    st.sampled_from(["i-0abc", "staging-1", "qa", "222222222222", "web", "data", "ÄÖÜ-prod",
                     "x y", "it's", 'say "hi"', "<@U1>", "--", "#c"]),
)
mention_ids = st.from_regex(r"[UW][A-Z0-9]{1,11}", fullmatch=True)
mentions = st.tuples(mention_ids, st.none() | st.from_regex(r"[a-z._]{1,10}", fullmatch=True))
emails = st.tuples(st.from_regex(r"[A-Za-z0-9._+]{1,10}", fullmatch=True),
                   st.from_regex(r"[A-Za-z0-9-]{1,10}\.[A-Za-z]{2,5}", fullmatch=True))
durations = st.one_of(st.from_regex(r"[1-9][0-9]{0,3}[mhdw]", fullmatch=True),
                      st.sampled_from(["2026-12-01", "2026-12-01T18:00", "20261201"]))
tickets = st.from_regex(r"[A-Z][A-Z0-9_]{1,9}-[0-9]{1,6}", fullmatch=True)


def q(word: str) -> str:
    return shlex.quote(word)


@st.composite
def users(draw: st.DrawFn) -> tuple[str, UserRef]:
    if draw(st.booleans()):
        uid, name = draw(mentions)
        return (f"<@{uid}|{name}>" if name else f"<@{uid}>"), UserRef(user_id=uid)
    local, domain = draw(emails)
    email = f"{local}@{domain}"
    return draw(st.sampled_from(["", "@"])) + email, UserRef(email=email.lower())


@st.composite
def commands(draw: st.DrawFn) -> tuple[list[str], Command]:
    """A command built from the grammar's pieces (words as typed), and the Command it must
    parse to."""
    verb = draw(st.sampled_from(VERBS))
    spelled = draw(st.sampled_from([verb, verb.upper(), verb.capitalize()]))
    target = draw(words)
    if verb in ("help", "anomalies", "digest", "envs", "pause-actions", "resume-actions"):
        return [spelled], Command(verb)
    if verb == "costs":
        period = draw(st.none() | st.sampled_from(PERIODS))
        scope = draw(st.sampled_from([None, "me", "team", "resource", "account"]))
        tail = [period] if period else []
        if scope in (None, "me"):
            head = [] if scope is None else ["me"]
            return [spelled, *head, *tail], Command("costs", scope="me", period=period or "7d")
        assume(period is not None or target.lower() not in PERIODS)  # `costs team 7d`: a period
        return ([spelled, scope, q(target), *tail],
                Command("costs", scope=scope, target=target, period=period or "7d"))
    if verb == "resources":
        scope = draw(st.sampled_from([None, "me", "unowned", "team", "user"]))
        if scope is None:
            return [spelled], Command("resources", scope="me")
        if scope in ("me", "unowned"):
            return [spelled, scope], Command("resources", scope=scope)
        if scope == "team":
            return [spelled, "team", q(target)], Command("resources", scope="team", target=target)
        text, user = draw(users())
        return [spelled, q(text)], Command("resources", scope="user", user=user)
    if verb == "owner":
        text, user = draw(users())
        return [spelled, q(target), q(text)], Command("owner", target=target, user=user)
    if verb in ("env", "release", "ttl"):
        return [spelled, q(target)], Command(verb, target=target)
    duration = draw(durations)
    if verb == "extend":
        return [spelled, q(target), duration], Command("extend", target=target,
                                                       duration=duration)
    ticket = draw(st.none() | tickets)
    return ([spelled, q(target), duration, *([ticket] if ticket else [])],
            Command("book", target=target, duration=duration, ticket=ticket))


def render(command: Command) -> str:
    """Command text that means ``command`` (the inverse of parse, up to spelling)."""
    parts = [command.verb]
    if command.scope == "user" and command.user is not None:
        parts.append(_user(command.user))
    elif command.scope in ("team", "resource", "account"):
        parts += [command.scope, q(command.target or "")]
    elif command.scope is not None:
        parts.append(command.scope)
    elif command.target is not None:
        parts.append(q(command.target))
    if command.verb == "owner" and command.user is not None:
        parts.append(_user(command.user))
    for extra in (command.period, command.duration, command.ticket):
        if extra is not None:
            parts.append(q(extra))
    return " ".join(parts)


def _user(user: UserRef) -> str:
    return f"<@{user.user_id}>" if user.user_id else q(user.email or "")


# Free text: anything at all, and grammar pieces glued together with noise.
noise = st.one_of(
    st.text(max_size=60),
    st.text(st.characters(codec="utf-8"), min_size=200, max_size=3000),
    st.lists(st.one_of(st.sampled_from([*VERBS, *KEYWORDS, "'", '"', "\\", "<@U0BOB|bob>",
                                        "<@W1>", "<@>", "@bob@example.com", "OPS-1", "3d",
                                        "٣d", "\u00a0", "\t", "\n", "\x00", "--help"]),
                       st.text(max_size=8)),
             max_size=8).map(" ".join),
)


@settings(max_examples=examples(500))
@given(text=noise)
@example(text="book qa 3d OPS-١٢")  # Arabic-Indic digits are no Jira key
@example(text="book qa 3d 'OPS-12\n'")
@example(text='costs "unterminated')
@example(text="costs resource 'a\x00b'")  # refused: PostgreSQL cannot query a NUL
def test_any_text_parses_or_is_a_command_error(text: str) -> None:
    try:
        command = parse(text)
    except CommandError as exc:
        assert str(exc)
        return
    assert command.verb in VERBS
    assert "\x00" not in text
    if command.ticket is not None:
        assert command.ticket.isascii() and command.ticket == command.ticket.strip()
    assert parse(render(command)) == command


@settings(max_examples=examples(500))
@given(built=commands(), pad=st.sampled_from(["", " ", "  ", "\t", "\n"]))
def test_every_command_of_the_grammar_parses_to_what_it_says(built: tuple[list[str], Command],
                                                            pad: str) -> None:
    parts, expected = built
    assert parse(pad + f" {pad}".join(parts) + pad) == expected
    assert parse(render(expected)) == expected


@settings(max_examples=examples(200))
@given(verb=st.sampled_from(VERBS), extra=st.lists(words, min_size=4, max_size=6))
def test_too_many_words_are_a_usage_error(verb: str, extra: list[str]) -> None:
    try:
        parse(" ".join([verb, *map(q, extra)]))
    except CommandError as exc:
        assert "usage" in str(exc) or "not a user" in str(exc) or "Jira" in str(exc)
    else:
        raise AssertionError("a command with four or more arguments parsed")
