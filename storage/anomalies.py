"""Repository for anomaly episodes, the feedback people give on them, and snoozed scopes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from storage.claims import insert_once
from storage.models import Anomaly, Snooze

FEEDBACK = {"acknowledged", "expected"}


def save_new(session: Session, *, series: str, day: date, expected: float, actual: float,
             impact: float, impact_pct: float, score: float, causes: Sequence[dict[str, Any]],
             currency: str, now: datetime) -> Anomaly | None:
    """Store an alert once per (series, day); None when it was already stored."""
    values = {"series": series, "day": day, "expected": expected, "actual": actual,
              "impact": impact, "impact_pct": impact_pct, "score": score, "currency": currency,
              "causes": json.dumps(list(causes)), "status": "open", "created_at": now}
    if not insert_once(session, Anomaly, values):
        return None
    return session.scalars(
        select(Anomaly).where(col(Anomaly.series) == series, col(Anomaly.day) == day)
    ).one()


def get(session: Session, *, anomaly_id: int) -> Anomaly | None:
    return session.get(Anomaly, anomaly_id)


def by_ids(session: Session, *, ids: Sequence[int]) -> dict[int, Anomaly]:
    """The anomalies with these ids (those that still exist), by id."""
    if not ids:
        return {}
    rows = session.scalars(select(Anomaly).where(col(Anomaly.id).in_(sorted(set(ids)))))
    return {row.id: row for row in rows if row.id is not None}


def set_feedback(session: Session, *, anomaly_id: int, status: str, by: str,
                 now: datetime) -> Anomaly | None:
    """Record acknowledge / expected feedback; returns the updated anomaly."""
    if status not in FEEDBACK:
        raise ValueError(f"unknown feedback {status!r}")
    row = session.get(Anomaly, anomaly_id)
    if row is not None:
        row.status, row.feedback_by, row.feedback_at = status, by, now
        session.flush()
    return row


def open_for(session: Session, *, series: Sequence[str] | None, since: date | None = None,
             limit: int = 50) -> list[Anomaly]:
    """Open anomalies of the given scopes (None: all scopes), newest first."""
    stmt = select(Anomaly).where(col(Anomaly.status) == "open")
    if series is not None:
        stmt = stmt.where(col(Anomaly.series).in_(list(series)))
    if since is not None:
        stmt = stmt.where(col(Anomaly.day) >= since)
    return list(session.scalars(stmt.order_by(col(Anomaly.day).desc()).limit(limit)))


def created_since(session: Session, *, since: datetime, limit: int = 500) -> list[Anomaly]:
    """Anomalies detected from ``since`` on, newest first."""
    stmt = select(Anomaly).where(col(Anomaly.created_at) >= since)
    return list(session.scalars(stmt.order_by(col(Anomaly.day).desc()).limit(limit)))


def snooze(session: Session, *, series: str, until: datetime, by: str) -> None:
    row = session.get(Snooze, series)
    if row is None:
        session.add(Snooze(series=series, until=until, set_by=by))
    else:
        row.until, row.set_by = until, by
    session.flush()


def snoozed(session: Session, *, now: datetime) -> set[str]:
    """Scopes whose alerts are quiet at ``now``."""
    return set(session.scalars(select(col(Snooze.series)).where(col(Snooze.until) > now)))
