"""Shared fixtures: a real database (SQLite by default, PostgreSQL when DATABASE_URL says so).

Hypothesis runs with the profile named by ``HYPOTHESIS_PROFILE``: ``ci`` (the default) is
deterministic (a fixed seed, no example database, no deadline), so a run fails or passes the
same way everywhere; ``hunt`` draws fresh random examples for a longer local search.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel

from storage.db import make_engine, upgrade

DATA = Path(__file__).parent / "data"

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("hunt", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One migrated database per test run; on PostgreSQL the schema is rebuilt from scratch."""
    eng = make_engine(_database_url(tmp_path_factory))
    if eng.dialect.name == "postgresql":
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(eng)
    yield eng
    eng.dispose()


def empty(engine: Engine) -> Engine:
    """Delete every row of every table (the schema stays)."""
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))
        return engine
    # TRUNCATE locks every table at once: a transaction a previous test left behind (a replica
    # process being killed, a thread finishing its job) can deadlock with it, and PostgreSQL
    # then aborts the TRUNCATE. That transaction ends within moments, so try again.
    attempts = 0
    while True:
        try:
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            return engine
        except OperationalError as exc:
            attempts += 1
            if attempts == 10 or "deadlock detected" not in str(exc):
                raise
            time.sleep(0.5)


def free_port() -> int:
    """A loopback port nothing listens on (for a server to start on, or to be refused by)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def db(engine: Engine) -> Iterator[Engine]:
    """The migrated engine, emptied before each test."""
    yield empty(engine)


@pytest.fixture
def session(db: Engine) -> Iterator[Session]:
    with Session(db, expire_on_commit=False) as s:
        yield s
