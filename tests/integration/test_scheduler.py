"""The scheduler keeps its jobs in the database and catches up on a run missed while down."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_EXECUTED
from sqlalchemy import Engine, event, select, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from bot.config import load_config
from bot.jobs import run_job
from bot.services import Services
from bot.settings import Settings
from handlers.scheduler import JOBSTORE_TABLE, build_scheduler
from providers.chat import ConsoleTransport
from storage.models import Delivery


def _services(db: Engine) -> Services:
    with db.begin() as conn:
        conn.execute(text(f"DELETE FROM {JOBSTORE_TABLE}"))
    now = datetime.now(UTC)
    return Services(settings=Settings(database_url="sqlite://"), config=load_config(None),
                    engine=db, chat=ConsoleTransport(io.StringIO()), clock=lambda: now)


def test_jobs_survive_a_restart_with_their_next_run_time(db: Engine) -> None:
    services = _services(db)
    first = build_scheduler(services)
    planned = {job.id: job.next_run_time for job in first.get_jobs()}
    first.remove_jobstore("default", shutdown=True)
    first.shutdown(wait=True)
    assert set(planned) == {"ingest", "digest", "bookings", "lifecycle", "power"}
    again = build_scheduler(services)
    try:
        assert {job.id: job.next_run_time for job in again.get_jobs()} == planned
    finally:
        again.shutdown(wait=False)


def test_a_digest_missed_during_a_restart_is_sent_when_back(db: Engine) -> None:
    services = _services(db)
    run_job(services, "ingest")
    scheduler = build_scheduler(services)
    # the process was down at the digest's time: it came back 5 seconds later
    scheduler.modify_job("digest", next_run_time=datetime.now(UTC) - timedelta(seconds=5))
    # the process "dies": detach the store first, because APScheduler's shutdown of a paused
    # scheduler processes due jobs once more (and would consume the missed run)
    scheduler.remove_jobstore("default", shutdown=True)
    scheduler.shutdown(wait=True)

    restarted = build_scheduler(services)
    restarted.resume()
    try:
        deadline = time.monotonic() + 30
        sent: list[Delivery] = []
        while time.monotonic() < deadline and not sent:
            time.sleep(0.1)
            with Session(db) as session:
                sent = list(session.scalars(select(Delivery).where(
                    Delivery.kind == "digest", Delivery.sent_at.is_not(None))))  # type: ignore[union-attr]
        assert sent, "the missed digest was not sent after the restart"
        next_run = restarted.get_job("digest").next_run_time
        assert next_run > datetime.now(UTC)  # and the next one is planned as usual
    finally:
        restarted.shutdown(wait=True)


def test_the_scheduler_keeps_running_after_its_job_store_fails(db: Engine) -> None:
    """A failed next-run-time query (a dropped connection) must not end the scheduler's thread."""
    services = _services(db)
    scheduler = build_scheduler(services)
    failures: list[str] = []

    def drop_connection(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # get_next_run_time(): the query APScheduler 3 runs after get_due_jobs() unguarded
        if (not failures and JOBSTORE_TABLE in statement and "IS NOT NULL" in statement
                and "LIMIT" in statement):
            failures.append(statement)
            raise OperationalError(statement, None, Exception("server closed the connection"))

    ran: list[str] = []
    scheduler.add_listener(lambda event: ran.append(event.job_id), EVENT_JOB_EXECUTED)
    event.listen(db, "before_cursor_execute", drop_connection)
    try:
        scheduler.resume()  # first round: nothing due, then the failing query
        deadline = time.monotonic() + 10
        while not failures and time.monotonic() < deadline:
            time.sleep(0.05)
        assert failures, "the scheduler never asked for its next run time"
        scheduler.modify_job("bookings", next_run_time=datetime.now(UTC))
        deadline = time.monotonic() + 30
        while "bookings" not in ran and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ran == ["bookings"], "no job ran after the job store failed once"
    finally:
        event.remove(db, "before_cursor_execute", drop_connection)
        scheduler.shutdown(wait=True)
