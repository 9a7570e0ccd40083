"""Atomic claims: the one place where "exactly once" is decided, on SQLite and PostgreSQL alike.

``insert_once`` relies on a unique constraint and INSERT ... ON CONFLICT DO NOTHING; a row count
of 1 means this caller won. Nothing here checks first and inserts later.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col

from storage.models import Delivery, ProcessedEvent

RELEASED = datetime(1970, 1, 1, tzinfo=UTC)  # a claim this old is free to take


def insert_once(session: Session, model: type[SQLModel], values: dict[str, Any]) -> bool:
    """Insert ``values`` unless a row with the same unique key exists; True if inserted."""
    table: Any = model.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # RETURNING rather than rowcount: psycopg reports no row count for a skipped ON CONFLICT
    key = next(iter(table.primary_key.columns))
    stmt = insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return session.execute(stmt).first() is not None


def first_time(session: Session, *, source: str, event_id: str, now: datetime) -> bool:
    """True the first time an inbound event is seen (Slack event_id, webhook delivery id)."""
    return insert_once(session, ProcessedEvent,
                       {"source": source, "event_id": event_id, "received_at": now})


def claim_delivery(
    session: Session, *, kind: str, scope: str, period: str, worker: str, now: datetime,
    lease: timedelta = timedelta(minutes=10),
) -> bool:
    """Claim the right to send (kind, scope, period). Commit before sending.

    A claim that was never marked sent (its sender crashed) may be taken over after ``lease``.
    """
    values = {"kind": kind, "scope": scope, "period": period, "claimed_by": worker,
              "claimed_at": now}
    if insert_once(session, Delivery, values):
        return True
    stale = session.execute(
        update(Delivery)
        .where(and_(col(Delivery.kind) == kind, col(Delivery.scope) == scope,
                    col(Delivery.period) == period, col(Delivery.sent_at).is_(None),
                    col(Delivery.claimed_at) < now - lease))
        .values(claimed_by=worker, claimed_at=now)
    )
    return int(getattr(stale, "rowcount", 0) or 0) == 1


def mark_sent(session: Session, *, kind: str, scope: str, period: str, now: datetime,
              outcome: str = "sent") -> None:
    """Record that the claimed delivery went out (or was skipped as noise)."""
    session.execute(
        update(Delivery)
        .where(and_(col(Delivery.kind) == kind, col(Delivery.scope) == scope,
                    col(Delivery.period) == period))
        .values(sent_at=now, outcome=outcome)
    )


def release_claim(session: Session, *, kind: str, scope: str, period: str) -> None:
    """Give up a claim not sent, so that the next run takes it at once (not after its lease)."""
    session.execute(
        update(Delivery)
        .where(and_(col(Delivery.kind) == kind, col(Delivery.scope) == scope,
                    col(Delivery.period) == period, col(Delivery.sent_at).is_(None)))
        .values(claimed_by="", claimed_at=RELEASED)
    )


def queue_delivery(session: Session, *, kind: str, scope: str, period: str) -> None:
    """Record a delivery to make, unclaimed (an outbox row): in the transaction that decides it,
    so that a send that fails later is retried from ``unsent`` rather than lost."""
    insert_once(session, Delivery, {"kind": kind, "scope": scope, "period": period,
                                    "claimed_by": "", "claimed_at": RELEASED})


def unsent(session: Session, *, kind: str, period_from: str, limit: int = 1000
           ) -> list[tuple[str, str]]:
    """(scope, period) of the deliveries of ``kind`` not sent yet, periods from ``period_from``
    on (ISO dates compare as text), oldest first."""
    rows = session.execute(
        select(col(Delivery.scope), col(Delivery.period))
        .where(col(Delivery.kind) == kind, col(Delivery.sent_at).is_(None),
               col(Delivery.period) >= period_from)
        .order_by(col(Delivery.id)).limit(limit)
    )
    return [(str(scope), str(period)) for scope, period in rows]
