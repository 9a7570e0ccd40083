"""Bookings never overlap, under real concurrency, on SQLite and PostgreSQL (DATABASE_URL).

Threads, each with its own connection, hammer ``book`` on one environment at the same moment;
exactly one wins, every round. An extension racing the automatic release at the end is never
lost: either the extension wins and the booking stands, or the release wins and the extension
is refused.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from bot import envs
from bot.config import parse_config
from bot.errors import CommandError
from storage import bookings
from storage.db import session_scope
from storage.models_envs import Booking

THREADS = 8
ROUNDS = 30
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
CONFIG = parse_config("environments: [{name: staging, max_booking: 7d}]", source="test.yaml")
STAGING = CONFIG.environments[0]
T = TypeVar("T")


def _race(calls: list[Callable[[], T]]) -> list[T | BaseException]:
    """Run the calls in threads released at the same instant; results (or errors) in order."""
    barrier = threading.Barrier(len(calls))
    results: list[T | BaseException] = [RuntimeError("not run")] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except BaseException as exc:  # kept and asserted on by the caller
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _book(db: Engine, who: str, now: datetime) -> bool:
    with session_scope(db) as session:
        outcome = envs.book(session, config=CONFIG, env=STAGING, until=now + timedelta(hours=1),
                            ticket=None, actor=envs.Actor(who, None, "slack"), now=now)
    return outcome.ok


def test_racing_bookers_exactly_one_wins_every_time(db: Engine) -> None:
    winners: list[str] = []
    for round_ in range(ROUNDS):
        now = NOW + timedelta(hours=2 * round_)
        people = [f"user{i}@example.com" for i in range(THREADS)]
        calls: list[Callable[[], bool]] = [partial(_book, db, who, now) for who in people]
        results = _race(calls)
        errors = [r for r in results if isinstance(r, BaseException)]
        assert errors == [], errors
        assert results.count(True) == 1, f"round {round_}: {results}"
        winner = people[results.index(True)]
        with Session(db) as session:
            state = bookings.state(session, env="staging")
            assert state is not None and state.holder == winner
        winners.append(winner)
        if round_ % 2 == 0:  # every other round the holder releases; else the booking expires
            with session_scope(db) as session:
                envs.release(session, config=CONFIG, env=STAGING,
                             actor=envs.Actor(winner), now=now + timedelta(minutes=30))
    with Session(db) as session:
        history = list(session.scalars(select(Booking).order_by(col(Booking.started_at))))
    assert [b.holder for b in history] == winners
    # no two bookings overlap: each ends before (or as) the next starts
    for before, after in zip(history, history[1:], strict=False):
        assert before.ended_at is not None and before.ended_at <= after.started_at
        assert before.end_reason == ("released" if history.index(before) % 2 == 0
                                     else "expired")


def test_two_open_bookings_of_one_environment_are_refused_by_the_database(
        db: Engine) -> None:
    assert _book(db, "ann@example.com", NOW)
    with pytest.raises(IntegrityError), session_scope(db) as session:
        bookings.add_booking(session, Booking(id="second", env="staging", holder="x@example.com",
                                              started_at=NOW, until=NOW + timedelta(hours=1)))


def _extend(db: Engine, now: datetime) -> bool:
    try:
        with session_scope(db) as session:
            envs.extend(session, config=CONFIG, env=STAGING, text="1h",
                        actor=envs.Actor("ann@example.com"), now=now)
        return True
    except CommandError:
        return False


def _sweep(db: Engine, now: datetime) -> bool:
    with session_scope(db) as session:
        return envs.release_ended(session, config=CONFIG, env=STAGING, now=now)


def test_an_extension_racing_the_automatic_release_is_never_lost(db: Engine) -> None:
    for round_ in range(ROUNDS):
        start = NOW + timedelta(hours=3 * round_)
        assert _book(db, "ann@example.com", start)
        end = start + timedelta(hours=1)
        extended, released = _race([partial(_extend, db, end - timedelta(milliseconds=1)),
                                    partial(_sweep, db, end)])
        assert not isinstance(extended, BaseException) and not isinstance(released,
                                                                          BaseException)
        assert extended != released, f"round {round_}: extended and released"
        with Session(db) as session:
            state = bookings.state(session, env="staging")
            assert state is not None
            if extended:
                assert state.until == end + timedelta(hours=1) and state.holder is not None
            else:
                assert state.booking_id is None
        if extended:  # leave it free for the next round
            with session_scope(db) as session:
                envs.release(session, config=CONFIG, env=STAGING,
                             actor=envs.Actor("ann@example.com"), now=end)


def test_the_sweep_never_releases_a_booking_extended_after_it_looked(db: Engine) -> None:
    assert _book(db, "ann@example.com", NOW)
    end = NOW + timedelta(hours=1)
    with Session(db) as session:
        seen = bookings.state(session, env="staging")  # the sweep reads: ended at `end`
    assert seen is not None and seen.until == end and seen.booking_id
    assert _extend(db, end - timedelta(seconds=1))  # the holder extends meanwhile
    with session_scope(db) as session:
        assert not bookings.free(session, env="staging", booking_id=seen.booking_id,
                                 until=seen.until, now=end)
    with Session(db) as session:
        assert bookings.state(session, env="staging").holder == "ann@example.com"  # type: ignore[union-attr]



def test_a_claim_based_on_a_stale_read_loses(db: Engine) -> None:
    # both requests saw the environment free; the second claim finds it taken and loses
    with session_scope(db) as session:
        bookings.ensure_state(session, env="staging")
    until = NOW + timedelta(hours=1)
    with session_scope(db) as first:
        assert bookings.claim(first, env="staging", booking_id="a", holder="ann@example.com",
                              until=until, previous=None, now=NOW)
    with session_scope(db) as second:
        assert not bookings.claim(second, env="staging", booking_id="b",
                                  holder="bob@example.com", until=until, previous=None, now=NOW)
        # once the first booking has ended, a claim naming it as the previous one wins
        assert not bookings.claim(second, env="staging", booking_id="b",
                                  holder="bob@example.com", until=until + timedelta(hours=1),
                                  previous="a", now=until - timedelta(seconds=1))
        assert bookings.claim(second, env="staging", booking_id="b", holder="bob@example.com",
                              until=until + timedelta(hours=1), previous="a", now=until)
