"""Repository for the savings ledger: the daily cost that bot actions avoid."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from storage.models import Saving


def record(session: Session, *, resource_id: str, action: str, daily_cost: float,
           currency: str, since: datetime, owner: str | None, team: str | None) -> None:
    session.add(Saving(resource_id=resource_id, action=action, daily_cost=daily_cost,
                       currency=currency, since=since, owner=owner, team=team))


def saved_between(session: Session, *, start: datetime, end: datetime) -> dict[str, float]:
    """Money saved in [start, end] per scope key ("owner:x", "team:y", "all"), in USD."""
    out: dict[str, float] = defaultdict(float)
    for row in session.scalars(select(Saving).where(col(Saving.since) < end)):
        days = max(0.0, (end - max(row.since, start)).total_seconds() / 86400)
        amount = row.daily_cost * days
        out["all"] += amount
        if row.owner:
            out[f"owner:{row.owner}"] += amount
        if row.team:
            out[f"team:{row.team}"] += amount
    return dict(out)
