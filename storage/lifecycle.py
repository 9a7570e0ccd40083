"""Repository for TTL workflows: the per-resource state rows, claims on their steps, TTL
overrides, exemptions and the run-time switches (``pause-actions``).

A step is carried out only by the worker whose claim (an UPDATE guarded by state, version and an
expired-or-absent lease) changed exactly one row; finishing a step is guarded by the same claim.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Table, and_, delete, func, or_, select, update
from sqlmodel import Session, col

from storage.claims import insert_once
from storage.db import insert_rows
from storage.models import Control, Exemption, Lifecycle, PowerSkip, Resource, TtlOverride

LEASE = timedelta(minutes=10)
OPEN_STATES = ("active", "warned", "due")
# a closed workflow's outcome once its resource was acted on, by provider action
ACTED_OUTCOMES = {"stop": "stopped", "destroy": "destroyed"}
# not seen this long before its provider's newest day: gone (``expiring``)
STILL_SEEN = timedelta(days=2)
_LIFECYCLE: Table = Lifecycle.__table__  # type: ignore[attr-defined]
PAUSED = "actions_paused"


@dataclass(frozen=True, slots=True)
class Wanted:
    """What a resource's workflow should be now, as computed from its TTL."""

    expires_at: datetime | None
    source: str
    action: str
    policy: str | None
    warn_before_s: int
    grace_s: int


def _rows(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def get(session: Session, *, resource_id: str) -> Lifecycle | None:
    stmt = (
        select(Lifecycle)
        .where(col(Lifecycle.resource_id) == resource_id)
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).first()


def current(session: Session) -> dict[str, tuple[Any, ...]]:
    """resource id -> (expires_at, source, action, policy, warn_before_s, grace_s, state)."""
    stmt = select(
        col(Lifecycle.resource_id), col(Lifecycle.expires_at), col(Lifecycle.source),
        col(Lifecycle.action), col(Lifecycle.policy), col(Lifecycle.warn_before_s),
        col(Lifecycle.grace_s), col(Lifecycle.state),
    )  # fmt: skip
    return {row[0]: tuple(row[1:]) for row in session.connection().execute(stmt)}


def first_step_at(wanted: Wanted) -> datetime | None:
    """When a fresh workflow's first step (the warning) is due."""
    if wanted.expires_at is None:
        return None
    return wanted.expires_at - timedelta(seconds=wanted.warn_before_s)


def start_workflows(
    session: Session, *, wanted: Mapping[str, Wanted], now: datetime
) -> None:
    """(Re)start the workflow of each resource: state active, first step at warn time.

    An exempt resource stays exempt; a step someone holds a claim on is left to its holder
    (it re-reads the TTL before acting and stops there).
    """
    if not wanted:
        return
    ids = list(wanted)
    held: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        stmt = select(col(Lifecycle.resource_id), col(Lifecycle.state), col(Lifecycle.claimed_at))
        for rid, state, claimed_at in session.connection().execute(
            stmt.where(col(Lifecycle.resource_id).in_(chunk))
        ):
            if state == "exempt" or (claimed_at is not None and claimed_at > now - LEASE):
                held.add(rid)
        session.execute(
            delete(Lifecycle).where(
                col(Lifecycle.resource_id).in_([r for r in chunk if r not in held])
            )
        )
    columns = (
        "resource_id", "expires_at", "source", "action", "policy", "warn_before_s", "grace_s",
        "state", "next_at", "outcome", "attempts", "last_error", "version", "updated_at",
    )  # fmt: skip
    rows = [
        (rid, w.expires_at, w.source, w.action, w.policy, w.warn_before_s, w.grace_s,
         "active", first_step_at(w), "", 0, "", 0, now)
        for rid, w in wanted.items()
        if rid not in held
    ]  # fmt: skip
    insert_rows(session, _LIFECYCLE, columns, rows)
    relabel(session, wanted={rid: wanted[rid] for rid in held}, now=now)


def relabel(session: Session, *, wanted: Mapping[str, Wanted], now: datetime) -> None:
    """Update what a workflow says about its TTL without restarting it."""
    for rid, w in wanted.items():
        session.execute(
            update(Lifecycle)
            .where(col(Lifecycle.resource_id) == rid)
            .values(expires_at=w.expires_at, source=w.source, action=w.action, policy=w.policy,
                    warn_before_s=w.warn_before_s, grace_s=w.grace_s, updated_at=now)
        )  # fmt: skip


def forget(session: Session, *, resource_ids: Sequence[str], now: datetime) -> None:
    """Drop the workflows of resources that no longer have a TTL (unless a step is claimed)."""
    for start in range(0, len(resource_ids), 500):
        chunk = resource_ids[start : start + 500]
        session.execute(
            delete(Lifecycle).where(
                col(Lifecycle.resource_id).in_(chunk),
                or_(col(Lifecycle.claimed_at).is_(None), col(Lifecycle.claimed_at) <= now - LEASE),
            )
        )


class Due(NamedTuple):
    """A due workflow row as the sweeper reads it (plain columns: no ORM object per row)."""

    resource_id: str
    expires_at: datetime | None
    source: str
    action: str
    policy: str | None
    warn_before_s: int
    grace_s: int
    state: str
    next_at: datetime | None
    warned_at: datetime | None
    notified_at: datetime | None
    outcome: str
    claimed_by: str | None
    claimed_at: datetime | None
    attempts: int
    last_error: str
    version: int
    updated_at: datetime


Row = Lifecycle | Due


def due(session: Session, *, now: datetime, limit: int = 1000) -> list[Due]:
    """Open workflows whose next step is due and not claimed by a live worker, oldest first."""
    stmt = (
        select(*(getattr(Lifecycle, name) for name in Due._fields))
        .where(
            col(Lifecycle.next_at) <= now,
            col(Lifecycle.state).in_(OPEN_STATES),
            or_(col(Lifecycle.claimed_at).is_(None), col(Lifecycle.claimed_at) <= now - LEASE),
        )
        .order_by(col(Lifecycle.next_at), col(Lifecycle.resource_id))
        .limit(limit)
    )
    return [Due(*row) for row in session.connection().execute(stmt)]


def expiring(session: Session, *, now: datetime, end: datetime,
             resource_ids: Sequence[str] | None = None) -> list[tuple[str, datetime]]:
    """(resource id, expiry) of the TTLs an owner should hear of: open workflows expiring in
    [now, end], and every resource past its expiry that is still there, and neither stopped,
    destroyed nor exempted. A dry run closes a workflow, and so does a notify-only TTL's
    reminder, but the resource goes on costing.

    Still there: seen (in costs or an inventory) on or after its expiry day, and within
    ``STILL_SEEN`` of the last day anything of its provider was seen (billing data arrives a
    day or two late, so the newest day is not today). One deleted since is seen no more."""
    coming = select(col(Lifecycle.resource_id), col(Lifecycle.expires_at)).where(
        col(Lifecycle.expires_at) >= now, col(Lifecycle.expires_at) <= end,
        col(Lifecycle.state).in_(OPEN_STATES),
    )  # fmt: skip
    past = select(col(Lifecycle.resource_id), col(Lifecycle.expires_at),
                  col(Resource.last_seen), col(Resource.provider)).join(
        Resource, col(Resource.resource_id) == col(Lifecycle.resource_id)).where(
        col(Lifecycle.expires_at) < now, col(Lifecycle.state) != "exempt",
        col(Lifecycle.outcome).not_in(list(ACTED_OUTCOMES.values())),
    )  # fmt: skip
    if resource_ids is not None:
        coming = coming.where(col(Lifecycle.resource_id).in_(list(resource_ids)))
        past = past.where(col(Lifecycle.resource_id).in_(list(resource_ids)))
    found = [(str(r), at) for r, at in session.connection().execute(coming) if at is not None]
    passed = [(str(r), at, seen, provider)
              for r, at, seen, provider in session.connection().execute(past) if at is not None]
    if passed:
        newest: dict[str, date] = {provider: day for provider, day in session.connection()
                                   .execute(select(col(Resource.provider),
                                                   func.max(col(Resource.last_seen)))
                                            .group_by(col(Resource.provider)))}
        found += [(r, at) for r, at, seen, provider in passed
                  if seen >= max(at.date(), newest[provider] - STILL_SEEN)]
    return found


def claim(session: Session, *, row: Row, worker: str, now: datetime) -> bool:
    """Take the row's next step: True for exactly one caller among any number of them."""
    result = session.execute(
        update(Lifecycle)
        .where(
            and_(
                col(Lifecycle.resource_id) == row.resource_id,
                col(Lifecycle.version) == row.version,
                col(Lifecycle.state) == row.state,
                or_(col(Lifecycle.claimed_at).is_(None), col(Lifecycle.claimed_at) <= now - LEASE),
            )
        )
        .values(claimed_by=worker, claimed_at=now, attempts=col(Lifecycle.attempts) + 1)
    )
    return _rows(result) == 1


def finish(
    session: Session, *, resource_id: str, worker: str, now: datetime, **values: Any
) -> bool:
    """Record the step's result and release the claim; False if the claim was lost.

    Moving to another state starts its attempt count afresh.
    """
    if "state" in values:
        values.setdefault("attempts", 0)
    result = session.execute(
        update(Lifecycle)
        .where(col(Lifecycle.resource_id) == resource_id, col(Lifecycle.claimed_by) == worker)
        .values(
            claimed_by=None, claimed_at=None, version=col(Lifecycle.version) + 1,
            updated_at=now, **values,
        )
    )  # fmt: skip
    return _rows(result) == 1


def set_state(session: Session, *, resource_id: str, now: datetime, **values: Any) -> bool:
    """Change a workflow outside a sweep (exemption approved, destroy-now): bumps the version so
    a sweeper holding the old version cannot act on it."""
    result = session.execute(
        update(Lifecycle)
        .where(col(Lifecycle.resource_id) == resource_id)
        .values(version=col(Lifecycle.version) + 1, updated_at=now, **values)
    )
    return _rows(result) == 1


def overrides(session: Session) -> dict[str, TtlOverride]:
    return {o.resource_id: o for o in session.scalars(select(TtlOverride))}


def override(session: Session, *, resource_id: str) -> TtlOverride | None:
    stmt = (
        select(TtlOverride)
        .where(col(TtlOverride.resource_id) == resource_id)
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).first()


def set_override(
    session: Session, *, resource_id: str, expires_at: datetime | None, set_by: str,
    now: datetime, reason: str = "",
) -> None:
    """Record an expiry set from Slack; it beats tags and policies from now on."""
    row = override(session, resource_id=resource_id)
    if row is None:
        row = TtlOverride(resource_id=resource_id, set_by=set_by, set_at=now)
        session.add(row)
    row.expires_at, row.set_by, row.set_at, row.reason = expires_at, set_by, now, reason
    session.flush()


def request_exemption(
    session: Session, *, resource_id: str, requested_by: str, reason: str, now: datetime
) -> Exemption | None:
    """A new pending request, or None if one is already pending for the resource."""
    pending = session.scalars(
        select(Exemption).where(
            col(Exemption.resource_id) == resource_id, col(Exemption.status) == "pending"
        )
    ).first()
    if pending is not None:
        return None
    row = Exemption(resource_id=resource_id, requested_by=requested_by, reason=reason,
                    requested_at=now)  # fmt: skip
    session.add(row)
    session.flush()
    return row


def decide_exemption(
    session: Session, *, exemption_id: int, approve: bool, by: str, now: datetime
) -> Exemption | None:
    """Approve or deny a pending request once; None if it is not pending (any more)."""
    result = session.execute(
        update(Exemption)
        .where(col(Exemption.id) == exemption_id, col(Exemption.status) == "pending")
        .values(status="approved" if approve else "denied", decided_by=by, decided_at=now)
    )
    if _rows(result) != 1:
        return None
    return session.get(Exemption, exemption_id, populate_existing=True)


def exemption(session: Session, *, exemption_id: int) -> Exemption | None:
    return session.get(Exemption, exemption_id, populate_existing=True)


def paused(session: Session) -> Control | None:
    """The pause switch if actions are paused."""
    row = session.get(Control, PAUSED, populate_existing=True)
    return row if row is not None and row.value == "true" else None


def set_paused(session: Session, *, value: bool, by: str, now: datetime) -> bool:
    """Flip the kill switch; False if it was already in that position."""
    text = "true" if value else "false"
    if insert_once(session, Control, {"key": PAUSED, "value": text, "set_by": by, "set_at": now}):
        return value
    result = session.execute(
        update(Control)
        .where(col(Control.key) == PAUSED, col(Control.value) != text)
        .values(value=text, set_by=by, set_at=now)
    )
    return _rows(result) == 1


def keep_running(session: Session, *, schedule: str, resource_id: str, night: date, reason: str,
                 by: str, now: datetime) -> bool:
    """Skip one night's scheduled stop; False if someone already did."""
    return insert_once(session, PowerSkip, {
        "schedule": schedule, "resource_id": resource_id, "night": night, "reason": reason,
        "set_by": by, "set_at": now,
    })  # fmt: skip


def kept_running(session: Session, *, schedule: str, resource_id: str,
                 night: date) -> PowerSkip | None:
    stmt = select(PowerSkip).where(
        col(PowerSkip.schedule) == schedule, col(PowerSkip.resource_id) == resource_id,
        col(PowerSkip.night) == night,
    )  # fmt: skip
    return session.scalars(stmt).first()
