"""A PostgreSQL database of a benchmark's own: created if missing, never ``test`` or ``postgres``
(the benchmarks rebuild their schema, so they must not be pointed at data that is kept)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from storage.db import make_engine


def pg_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.database in (None, "", "test", "postgres"):
        raise SystemExit(f"refusing database {parsed.database!r}: give one for this benchmark")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"),
                        {"d": parsed.database}).first() is None:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    return make_engine(url)
