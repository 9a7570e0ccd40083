"""Repository for environment bookings: the holder row, history, queue and the event outbox.

Taking, extending and releasing an environment are single conditional UPDATEs of its
``environment_state`` row; the row count says who won, on SQLite and PostgreSQL alike. Nothing
here checks first and writes later, and nothing commits: the caller's session owns the
transaction.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlmodel import Session, col

from storage import costs
from storage.claims import insert_once
from storage.db import in_lists
from storage.models import CostDaily, Delivery, Resource
from storage.models_envs import Booking, BookingEvent, BookingQueue, EnvironmentState


def _rows(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


# --- environment_state ------------------------------------------------------------------


def ensure_state(session: Session, *, env: str) -> None:
    """Create the environment's holder row if it does not exist yet (idempotent)."""
    insert_once(session, EnvironmentState, {"name": env})


def state(session: Session, *, env: str) -> EnvironmentState | None:
    return session.get(EnvironmentState, env, populate_existing=True)


def states(session: Session) -> dict[str, EnvironmentState]:
    stmt = select(EnvironmentState).execution_options(populate_existing=True)
    return {row.name: row for row in session.scalars(stmt)}


def claim(session: Session, *, env: str, booking_id: str, holder: str, until: datetime,
          previous: str | None, now: datetime) -> bool:
    """Take the environment for ``booking_id`` if it is free, or held by ``previous`` whose
    booking has ended; True if this call won."""
    held_by = (col(EnvironmentState.booking_id).is_(None) if previous is None
               else col(EnvironmentState.booking_id) == previous)
    result = session.execute(
        update(EnvironmentState)
        .where(col(EnvironmentState.name) == env, held_by,
               or_(col(EnvironmentState.booking_id).is_(None),
                   col(EnvironmentState.until) <= now))
        .values(booking_id=booking_id, holder=holder, until=until)
    )
    return _rows(result) == 1


def move_end(session: Session, *, env: str, booking_id: str, until: datetime,
             new_until: datetime, now: datetime) -> bool:
    """Extend: only if the booking still holds the environment with the end we read."""
    result = session.execute(
        update(EnvironmentState)
        .where(col(EnvironmentState.name) == env, col(EnvironmentState.booking_id) == booking_id,
               col(EnvironmentState.until) == until, col(EnvironmentState.until) > now)
        .values(until=new_until)
    )
    if _rows(result) != 1:
        return False
    session.execute(update(Booking).where(col(Booking.id) == booking_id).values(until=new_until))
    return True


def free(session: Session, *, env: str, booking_id: str, until: datetime | None = None,
         now: datetime | None = None) -> bool:
    """Release the environment if ``booking_id`` still holds it. With ``until`` and ``now`` (the
    automatic release) only if its end is still ``until`` and has passed, so a booking extended
    a moment ago is never released."""
    conditions = [col(EnvironmentState.name) == env,
                  col(EnvironmentState.booking_id) == booking_id]
    if until is not None and now is not None:
        conditions += [col(EnvironmentState.until) == until, col(EnvironmentState.until) <= now]
    result = session.execute(update(EnvironmentState).where(*conditions)
                             .values(booking_id=None, holder=None, until=None))
    return _rows(result) == 1


# --- booking history -------------------------------------------------------------------


def add_booking(session: Session, booking: Booking) -> None:
    session.add(booking)
    session.flush()


def get_booking(session: Session, *, booking_id: str) -> Booking | None:
    return session.get(Booking, booking_id, populate_existing=True)


def close_booking(session: Session, *, booking_id: str, ended_at: datetime, ended_by: str,
                  reason: str, actual_cost: Mapping[str, float]) -> None:
    session.execute(
        update(Booking)
        .where(col(Booking.id) == booking_id, col(Booking.ended_at).is_(None))
        .values(ended_at=ended_at, ended_by=ended_by, end_reason=reason,
                actual_cost=json.dumps(dict(actual_cost), sort_keys=True))
    )


def open_for_ticket(session: Session, *, ticket: str) -> list[Booking]:
    """Bookings linked to a Jira issue that have not ended."""
    stmt = (select(Booking).where(col(Booking.ticket) == ticket, col(Booking.ended_at).is_(None))
            .order_by(col(Booking.started_at)).execution_options(populate_existing=True))
    return list(session.scalars(stmt))


def open_tickets(session: Session, *, envs: Collection[str]) -> list[str]:
    """The Jira issues open bookings of ``envs`` link to, each once, in key order."""
    stmt = (select(col(Booking.ticket)).where(col(Booking.ticket).is_not(None),
                                         col(Booking.ended_at).is_(None),
                                         col(Booking.env).in_(list(envs)))
            .distinct().order_by(col(Booking.ticket)))
    return [str(t) for t in session.scalars(stmt)]


def history(session: Session, *, env: str, limit: int = 20) -> list[Booking]:
    stmt = (select(Booking).where(col(Booking.env) == env)
            .order_by(col(Booking.started_at).desc()).limit(limit))
    return list(session.scalars(stmt))


# --- queue ----------------------------------------------------------------------------


def enqueue(session: Session, *, env: str, email: str, user_id: str | None,
            now: datetime) -> bool:
    """Join the queue; False if already in it."""
    return insert_once(session, BookingQueue,
                       {"env": env, "email": email, "user_id": user_id, "created_at": now})


def queue(session: Session, *, env: str) -> list[BookingQueue]:
    stmt = (select(BookingQueue).where(col(BookingQueue.env) == env)
            .order_by(col(BookingQueue.created_at), col(BookingQueue.id)))
    return list(session.scalars(stmt))


def dequeue(session: Session, *, env: str, email: str) -> bool:
    result = session.execute(delete(BookingQueue).where(
        col(BookingQueue.env) == env, col(BookingQueue.email) == email))
    return _rows(result) > 0


def leave_queue(session: Session, *, queue_id: int) -> None:
    """Take one waiting person off their queue (told it is free)."""
    session.execute(delete(BookingQueue).where(col(BookingQueue.id) == queue_id))


# --- event outbox -----------------------------------------------------------------------


def add_event(session: Session, *, booking_id: str, env: str, kind: str, at: datetime,
              actor: str, origin: str, details: Mapping[str, Any]) -> None:
    session.add(BookingEvent(booking_id=booking_id, env=env, kind=kind, at=at, actor=actor,
                             origin=origin,
                             details=json.dumps(dict(details), sort_keys=True, default=str)))


def pending_events(session: Session, *, limit: int = 200) -> list[BookingEvent]:
    stmt = (select(BookingEvent).where(col(BookingEvent.processed_at).is_(None))
            .order_by(col(BookingEvent.id)).limit(limit)
            .execution_options(populate_existing=True))
    return list(session.scalars(stmt))


def mark_processed(session: Session, *, event_id: int, now: datetime) -> None:
    session.execute(update(BookingEvent)
                    .where(col(BookingEvent.id) == event_id,
                           col(BookingEvent.processed_at).is_(None))
                    .values(processed_at=now))


def step_sent(session: Session, *, kind: str, scope: str, period: str) -> bool:
    """Whether a claimed delivery (an effect step) was marked sent."""
    stmt = select(col(Delivery.sent_at)).where(
        col(Delivery.kind) == kind, col(Delivery.scope) == scope, col(Delivery.period) == period)
    return session.scalars(stmt).first() is not None


def events(session: Session, *, booking_id: str) -> list[BookingEvent]:
    stmt = (select(BookingEvent).where(col(BookingEvent.booking_id) == booking_id)
            .order_by(col(BookingEvent.id)))
    return list(session.scalars(stmt))


# --- the environment's resources and their costs ------------------------------------------


def resource_ids(session: Session, *, ids: Iterable[str],
                 tag_selector: Mapping[str, str]) -> list[str]:
    """Resources of an environment: the listed ids, plus those whose tags match the selector."""
    found = set(ids)
    if tag_selector:
        # a LIKE on the stored JSON narrows the scan; the JSON check below decides
        key, value = next(iter(sorted(tag_selector.items())))
        needle = json.dumps({key: value})[1:-1]
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = select(col(Resource.resource_id), col(Resource.tags)).where(
            col(Resource.tags).like(f"%{escaped}%", escape="\\"))
        for rid, tags in session.execute(stmt):
            parsed = json.loads(tags or "{}")
            if all(parsed.get(k) == v for k, v in tag_selector.items()):
                found.add(rid)
    return sorted(found)


def daily_costs(session: Session, *, resource_ids: list[str], start: date, end: date,
                metric: str) -> dict[str, dict[date, float]]:
    """Cost per currency per day of the given resources, days in [start, end]."""
    if not resource_ids:
        return {}
    out: dict[str, dict[date, float]] = {}
    for ids in in_lists(resource_ids):
        where = [col(CostDaily.resource_id).in_(ids)]
        for day, currency, cost in costs.grouped(session, by=["day"], start=start, end=end,
                                                 metric=metric, where=where):
            when = day if isinstance(day, date) else date.fromisoformat(str(day))
            series = out.setdefault(str(currency), {})
            series[when] = series.get(when, 0.0) + float(cost or 0.0)
    return out


def expired(session: Session, *, now: datetime) -> list[EnvironmentState]:
    stmt = select(EnvironmentState).where(
        and_(col(EnvironmentState.booking_id).is_not(None), col(EnvironmentState.until) <= now)
    ).execution_options(populate_existing=True)
    return list(session.scalars(stmt))
