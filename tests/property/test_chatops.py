"""`/finops` answers on a real database with the demo data: any text gets a reply, never a
traceback, and a reply that is an error leaves every table as it was."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from bot.chatops import Caller, answer
from bot.services import Services
from storage.models import Resource
from tests.property import examples
from tests.property.conftest import row_counts

CALLERS = [Caller(email="alice@example.com", user_id="U0ALICE"),  # admin, platform manager
           Caller(email="bob@example.com", user_id="U0BOB", origin="slack",
                  email_of={"U0CAROL": "carol@example.com"}.get),
           Caller(email="nobody@example.com")]
VERBS = ["help", "costs", "anomalies", "resources", "owner", "digest", "envs", "env", "book",
         "release", "extend", "ttl", "pause-actions", "resume-actions"]
ARGS = ["me", "team", "resource", "account", "unowned", "7d", "30d", "mtd", "platform", "data",
        "web", "nope", "staging-1", "staging-2", "qa", "30m", "4h", "3d", "1w", "0d", "9999w",
        "2020-01-01", "2099-12-31", "9999-12-31T23:59-01:00", "tomorrow", "OPS-1", "ops-1",
        "<@U0BOB>", "<@U0CAROL|carol>", "<@U0NOBODY>", "@carol@example.com", "bob",
        "222222222222", "data-lake-prod", "'", '"', "\\", "\x00", "é", "🙂", "x" * 300]


@pytest.fixture(scope="module")
def resource_ids(demo: Services) -> list[str]:
    with Session(demo.engine) as session:
        rows = session.exec(select(Resource.resource_id, Resource.name)).all()
    return sorted({r for row in rows[:40] for r in row if r})


def _resolve(text: str, resource_ids: list[str]) -> str:
    """The text with each ``@@R<n>`` placeholder replaced by a resource id or name of the demo."""
    return re.sub(r"@@R(\d+)", lambda m: resource_ids[int(m[1]) % len(resource_ids)], text)


words = st.one_of(st.sampled_from(ARGS), st.integers(0, 99).map(lambda i: f"@@R{i}"),
                  st.text(max_size=12))
texts = st.one_of(
    st.tuples(st.sampled_from(VERBS), st.lists(words, max_size=3)).map(
        lambda t: " ".join([t[0], *(shlex.quote(w) for w in t[1])])),
    st.tuples(st.sampled_from(VERBS), st.lists(words, max_size=3)).map(
        lambda t: " ".join([t[0], *t[1]])),  # unquoted: quotes and spaces as typed
    st.text(max_size=80),
)


# Commands of the grammar with the demo's own names, so that most of them do something.
ENVS = ["staging-1", "staging-2", "qa"]
resource_words = st.integers(0, 99).map(lambda i: f"@@R{i}")
valid_texts = st.one_of(
    st.sampled_from(["help", "anomalies", "digest", "envs", "pause-actions", "resume-actions",
                     "resources", "resources me", "resources unowned", "resources <@U0BOB>",
                     "resources <@U0CAROL>", "resources carol@example.com"]),
    st.tuples(st.sampled_from(["", "me", "team platform", "team data", "team nope",
                               "account 222222222222", "account data-lake-prod"]),
              st.sampled_from(["", "7d", "30d", "mtd"])).map(lambda t: f"costs {t[0]} {t[1]}"),
    resource_words.map(lambda r: f"costs resource {r}"),
    st.tuples(st.sampled_from(["env", "release"]), st.sampled_from(ENVS)).map(" ".join),
    st.tuples(st.sampled_from(ENVS), st.sampled_from(["30m", "4h", "3d", "1w", "2099-01-01"]),
              st.sampled_from(["", "OPS-7"])).map(lambda t: f"book {' '.join(t)}"),
    st.tuples(st.sampled_from(ENVS), st.sampled_from(["1h", "2d", "8d"])).map(
        lambda t: f"extend {' '.join(t)}"),
    st.tuples(resource_words, st.sampled_from(["1d", "2w", "91d", "2099-01-01"])).map(
        lambda t: f"extend {shlex.quote(t[0])} {t[1]}"),
    resource_words.map(lambda r: f"ttl {shlex.quote(r)}"),
    st.tuples(resource_words, st.sampled_from(["<@U0CAROL>", "bob@example.com"])).map(
        lambda t: f"owner {shlex.quote(t[0])} {t[1]}"),
)


def _run(demo: Services, resource_ids: list[str], setup: list[tuple[int, str]], who: int,
         text: str) -> tuple[Any, dict[str, int], dict[str, int]]:
    """Run ``setup`` (caller, text), then ``text``: the last reply and the row counts before
    and after it. The transaction is rolled back, so every example starts from the same data."""
    with Session(demo.engine, expire_on_commit=False) as session:
        try:
            for by, earlier in setup:
                answer(session, config=demo.config, caller=CALLERS[by],
                       text=_resolve(earlier, resource_ids), now=demo.now())
            before = row_counts(session)
            reply = answer(session, config=demo.config, caller=CALLERS[who],
                           text=_resolve(text, resource_ids), now=demo.now())
            after = row_counts(session)
        finally:
            session.rollback()
    return reply, before, after


callers = st.sampled_from(range(len(CALLERS)))
setups = st.lists(st.tuples(callers, valid_texts), max_size=2)


@settings(max_examples=examples(50))
@given(setup=setups, who=callers, text=st.one_of(valid_texts, texts))
@example(setup=[], who=0, text="costs resource 'a\x00b'")
@example(setup=[], who=0, text="book qa 9999-12-31T23:59-01:00")
@example(setup=[(0, "book qa 1d")], who=1, text="book qa 1d")
@example(setup=[(0, "book qa 1d")], who=0, text="extend qa 2099-12-31")
@example(setup=[], who=1, text="owner i-nope <@U0BOB>")
@example(setup=[], who=2, text="book staging-1 3d OPS-1")
def test_any_text_gets_a_reply_and_an_error_changes_nothing(
    demo: Services, resource_ids: list[str], setup: list[tuple[int, str]], who: int, text: str
) -> None:
    reply, before, after = _run(demo, resource_ids, setup, who, text)
    assert reply.text and reply.blocks
    if reply.text.endswith(f"Try `{demo.config.command} help`."):
        event("error reply")
        assert after == before
    else:
        event("answered, rows changed" if after != before else "answered")
