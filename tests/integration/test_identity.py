"""The Slack identity cache: repository on the real database, resolution against the fake Slack."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot.identity import is_fresh, resolve_slack_ids
from providers.slack import SlackTransport
from storage import identity
from tests.fakes.slack import FakeSlack

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(users={"ann@example.com": "U0ANN", "bob@example.com": "U0BOB"}) as server:
        yield server


@pytest.fixture
def slack(fake: FakeSlack) -> SlackTransport:
    return SlackTransport(fake.token, base_url=fake.base_url)


def _lookups(fake: FakeSlack) -> list[str]:
    return [c.args["email"] for c in fake.calls("users.lookupByEmail")]


def test_put_and_get_round_trip(session: Session) -> None:
    identity.put(session, email=" Ann@Example.com ", user_id="U0ANN", now=NOW)
    identity.put(session, email="ghost@example.com", user_id=None, now=NOW)
    session.commit()
    hit = identity.get_cached(session, email="ANN@example.com")
    miss = identity.get_cached(session, email="ghost@example.com")
    assert hit is not None and (hit.email, hit.user_id, hit.looked_up_at) == (
        "ann@example.com", "U0ANN", NOW)
    assert miss is not None and miss.user_id is None
    assert identity.get_cached(session, email="never@example.com") is None


def test_put_overwrites_an_earlier_lookup(session: Session) -> None:
    identity.put(session, email="ann@example.com", user_id=None, now=NOW)
    assert identity.get_cached(session, email="ann@example.com") is not None
    later = NOW + timedelta(days=2)
    identity.put(session, email="ANN@example.com", user_id="U0ANN", now=later)
    row = identity.get_cached(session, email="ann@example.com")
    assert row is not None and (row.user_id, row.looked_up_at) == ("U0ANN", later)
    assert set(identity.get_many(session, emails=["Ann@example.com", "x@y.z"])) == {
        "ann@example.com"}


def test_email_for_reverses_hits_only(session: Session) -> None:
    identity.put(session, email="ann@example.com", user_id="U0ANN", now=NOW)
    identity.put(session, email="ghost@example.com", user_id=None, now=NOW)
    assert identity.email_for(session, user_id="U0ANN") == "ann@example.com"
    assert identity.email_for(session, user_id="U404") is None
    assert identity.email_for(session, user_id="") is None


def test_cache_survives_the_session(db: Engine, fake: FakeSlack, slack: SlackTransport) -> None:
    with Session(db) as first:
        resolve_slack_ids(first, slack, ["ann@example.com"], now=NOW)
        first.commit()
    with Session(db) as second:
        assert resolve_slack_ids(second, slack, ["ann@example.com"], now=NOW) == {
            "ann@example.com": "U0ANN"}
    assert _lookups(fake) == ["ann@example.com"]


def test_resolve_looks_up_each_email_once_and_caches_misses(
    session: Session, fake: FakeSlack, slack: SlackTransport,
) -> None:
    emails = ["ann@example.com", "Ann@Example.com", "carol@example.com", "", "  "]
    expected = {"ann@example.com": "U0ANN", "Ann@Example.com": "U0ANN",
                "carol@example.com": None}
    assert resolve_slack_ids(session, slack, emails, now=NOW) == expected
    assert sorted(_lookups(fake)) == ["ann@example.com", "carol@example.com"]
    an_hour_later = NOW + timedelta(hours=1)
    assert resolve_slack_ids(session, slack, emails, now=an_hour_later) == expected
    assert len(_lookups(fake)) == 2  # hit and miss both served from the cache


def test_misses_refresh_after_a_day_hits_after_a_week(
    session: Session, fake: FakeSlack, slack: SlackTransport,
) -> None:
    emails = ["ann@example.com", "carol@example.com"]
    resolve_slack_ids(session, slack, emails, now=NOW)
    fake.add_user("carol@example.com", user_id="U0CAROL")  # joins Slack later that day

    assert resolve_slack_ids(session, slack, emails, now=NOW + timedelta(hours=23))[
        "carol@example.com"] is None
    day_later = NOW + timedelta(days=1)
    assert resolve_slack_ids(session, slack, emails, now=day_later) == {
        "ann@example.com": "U0ANN", "carol@example.com": "U0CAROL"}
    assert _lookups(fake)[2:] == ["carol@example.com"]

    resolve_slack_ids(session, slack, emails, now=NOW + timedelta(days=6, hours=23))
    assert len(_lookups(fake)) == 3
    resolve_slack_ids(session, slack, emails, now=NOW + timedelta(days=7))
    assert _lookups(fake)[3:] == ["ann@example.com"]  # carol's hit is only 6 days old


def test_custom_ttls(session: Session, fake: FakeSlack, slack: SlackTransport) -> None:
    resolve_slack_ids(session, slack, ["bob@example.com"], now=NOW)
    resolve_slack_ids(session, slack, ["bob@example.com"], now=NOW + timedelta(minutes=10),
                      ttl=timedelta(minutes=5))
    assert _lookups(fake) == ["bob@example.com", "bob@example.com"]


def test_is_fresh_boundaries() -> None:
    week, day = timedelta(days=7), timedelta(days=1)
    assert is_fresh(user_id="U1", looked_up_at=NOW, now=NOW + week - timedelta(seconds=1))
    assert not is_fresh(user_id="U1", looked_up_at=NOW, now=NOW + week)
    assert is_fresh(user_id=None, looked_up_at=NOW, now=NOW + day - timedelta(seconds=1))
    assert not is_fresh(user_id=None, looked_up_at=NOW, now=NOW + day)
