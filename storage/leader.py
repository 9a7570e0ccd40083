"""One scheduler among any number of replicas: a PostgreSQL advisory lock elects the leader.

The lock is held by a dedicated connection for as long as the process lives; if the process
dies (even by kill -9) or loses its database session, PostgreSQL releases it and another
replica takes it. On SQLite there is one process by design, and it is always the leader.

A new leader cleans up after the previous one (``take_over``): the claims the previous worker
held but never finished (deliveries, TTL steps) are released at once instead of waiting out
their lease, and the job runs it never finished are returned so they can be run again. Effects
are claimed in the database, so running a job again sends nothing twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Connection, Engine, and_, select, text, update
from sqlmodel import Session, col

from storage.claims import RELEASED
from storage.db import is_sqlite
from storage.models import Delivery, JobRun, Lifecycle, SchedulerLeader

log = logging.getLogger(__name__)
LOCK_KEY = 0x46494E4F5053  # "FINOPS": one advisory lock key for the scheduler


class LeaderLock:
    """The scheduler's leader lock (always held on SQLite)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        if is_sqlite(self._engine):
            return True
        if self._conn is not None:
            return self.held()
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                    {"key": LOCK_KEY}).scalar())
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def held(self) -> bool:
        """Still ours: the session that holds it answers (a lost session has lost the lock)."""
        if is_sqlite(self._engine):
            return True
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            return True
        except Exception:  # the connection is gone, and the lock with it
            log.warning("the scheduler's leader lock was lost with its database session")
            self._drop()
            return False

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
        except Exception:  # closing the session releases it anyway
            log.debug("advisory unlock failed; closing the session releases it", exc_info=True)
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # already broken
                log.debug("closing the leader connection failed", exc_info=True)


def take_over(session: Session, *, worker: str, now: datetime,
              name: str = "scheduler") -> tuple[str | None, int, list[str]]:
    """Record ``worker`` as the leader; clean up after the previous one.

    Returns (previous worker, claims released, jobs it left unfinished). Call only while
    holding the leader lock.
    """
    row = session.get(SchedulerLeader, name, populate_existing=True)
    previous = row.worker if row is not None else None
    if row is None:
        session.add(SchedulerLeader(name=name, worker=worker, since=now))
    else:
        row.worker, row.since = worker, now
    if previous is None or previous == worker:
        return previous, 0, []
    released = _rows(session.execute(
        update(Delivery)
        .where(and_(col(Delivery.claimed_by) == previous, col(Delivery.sent_at).is_(None)))
        .values(claimed_at=RELEASED)
    ))
    released += _rows(session.execute(
        update(Lifecycle).where(col(Lifecycle.claimed_by) == previous)
        .values(claimed_at=RELEASED)
    ))
    unfinished = list(session.scalars(
        select(JobRun).where(col(JobRun.worker) == previous, col(JobRun.finished_at).is_(None))
    ))
    for run in unfinished:
        run.finished_at, run.outcome = now, f"interrupted; taken over by {worker}"[:200]
    session.flush()
    return previous, released, sorted({r.job for r in unfinished})


def _rows(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def start_run(session: Session, *, job: str, worker: str, now: datetime) -> int:
    run = JobRun(job=job, worker=worker, started_at=now)
    session.add(run)
    session.flush()
    assert run.id is not None
    return run.id


def finish_run(session: Session, *, run_id: int, now: datetime, outcome: str) -> None:
    session.execute(update(JobRun).where(col(JobRun.id) == run_id)
                    .values(finished_at=now, outcome=outcome[:200]))
