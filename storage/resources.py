"""Repository for resources, their resolved owners and manual owner overrides."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Table, func, literal_column, or_, select
from sqlmodel import Session, col

from bot.records import Assignment, DailyCost, InventoryItem, ResourceFacts
from storage import rollup
from storage.db import in_lists, insert_rows, update_rows
from storage.models import OwnerOverride, Resource

_RESOURCE: Table = Resource.__table__  # type: ignore[attr-defined]
_R = _RESOURCE.c
_NEW_COLUMNS = (
    "resource_id", "provider", "account_id", "account_name", "region", "service",
    "resource_type", "name", "tags", "state", "first_seen", "last_seen", "owner_source",
)  # fmt: skip
_REFRESHED_COLUMNS = (  # what a newer cost row refreshes (each refreshed row: its id, then these)
    "provider", "account_id", "account_name", "region", "service", "resource_type", "name",
    "tags", "first_seen", "last_seen",
)  # fmt: skip


def _load(session: Session, ids: Sequence[str]) -> dict[str, Resource]:
    found: dict[str, Resource] = {}
    for chunk in in_lists(ids):
        stmt = select(Resource).where(col(Resource.resource_id).in_(chunk))
        for res in session.scalars(stmt):
            found[res.resource_id] = res
    return found


def upsert_from_costs(session: Session, *, rows: Iterable[DailyCost]) -> int:
    """Create or refresh resources seen in cost rows; the latest day's attributes win.

    An ingest may bring tens of thousands of resources, so this reads and writes plain rows
    (Core statements) rather than ORM objects, which cost about 0.4 ms each to build.
    """
    latest: dict[str, DailyCost] = {}
    first: dict[str, date] = {}
    for row in rows:
        current = latest.get(row.resource_id)
        if current is None or row.day >= current.day:
            latest[row.resource_id] = row
        seen = first.get(row.resource_id)
        first[row.resource_id] = row.day if seen is None else min(seen, row.day)
    session.flush()  # pending ORM changes first: the statements below go around the ORM
    connection = session.connection()
    stored: dict[str, Any] = {}
    known = select(_R["resource_id"], *(_R[name] for name in _REFRESHED_COLUMNS))
    for chunk in in_lists(list(latest)):
        stored.update((r.resource_id, r) for r in connection.execute(
            known.where(_R["resource_id"].in_(chunk))))
    new: list[tuple[Any, ...]] = []
    refreshed: list[tuple[Any, ...]] = []
    widened: list[tuple[Any, ...]] = []
    for rid, row in latest.items():
        tags = json.dumps(dict(row.tags), sort_keys=True) if row.tags else None
        old = stored.get(rid)
        if old is None:
            new.append((rid, row.provider, row.sub_account_id, row.sub_account_name, row.region,
                        row.service, row.resource_type, row.resource_name, tags or "{}", "",
                        first[rid], row.day, "unowned"))
            continue
        first_seen = min(old.first_seen, first[rid])
        if row.day >= old.last_seen or not old.service:
            values = (  # in _REFRESHED_COLUMNS order
                rid, row.provider, row.sub_account_id, row.sub_account_name, row.region,
                row.service, row.resource_type, row.resource_name or old.name,
                tags or old.tags, first_seen, max(old.last_seen, row.day),
            )  # fmt: skip
            if values != tuple(old):  # a re-ingest mostly brings back what is stored
                refreshed.append(values)
        elif first_seen != old.first_seen:
            widened.append((rid, first_seen))
    insert_rows(session, _RESOURCE, _NEW_COLUMNS, new)
    update_rows(session, _RESOURCE, "resource_id", _REFRESHED_COLUMNS, refreshed)
    update_rows(session, _RESOURCE, "resource_id", ("first_seen",), widened)
    _reread(session, latest)
    return len(latest)


def _reread(session: Session, ids: Collection[str]) -> None:
    """Expire the session's loaded resources among ``ids``, after statements that went around
    the ORM changed their rows: the next read of one loads it again."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Resource) and obj.resource_id in ids:
            session.expire(obj)


def upsert_from_inventory(session: Session, *, items: Iterable[InventoryItem], today: date) -> int:
    """Create or refresh resources from an inventory; inventory tags and state are current."""
    by_id = {item.resource_id: item for item in items}
    existing = _load(session, list(by_id))
    for rid, item in by_id.items():
        res = existing.get(rid)
        if res is None:
            res = Resource(
                resource_id=rid, provider=item.provider, first_seen=today, last_seen=today
            )
            session.add(res)
        res.account_id = item.account_id or res.account_id
        res.region = item.region or res.region
        res.service = item.service or res.service
        res.resource_type = item.resource_type or res.resource_type
        res.name = item.name or res.name
        res.tags = json.dumps(dict(item.tags), sort_keys=True)
        res.state = item.state
        res.created_at = item.created_at
        res.last_seen = max(res.last_seen, today)
    session.flush()
    return len(by_id)


_FACT_COLUMNS = (
    "resource_id", "provider", "account_id", "region", "service", "resource_type", "name", "tags",
)  # fmt: skip


def all_facts(session: Session) -> list[ResourceFacts]:
    """What the owner rules see of every stored resource, by id.

    Every ingest maps every resource, so this reads plain rows (ORM objects took about 18 µs
    a resource) and parses each distinct tags text once: resources sharing it share one
    read-only dict.
    """
    session.flush()  # pending ORM changes first: this read goes around the ORM
    parsed: dict[str, Mapping[str, str]] = {}
    found: list[ResourceFacts] = []
    stmt = select(*(_R[name] for name in _FACT_COLUMNS)).order_by(_R["resource_id"])
    for rid, provider, account, region, service, kind, name, text in session.connection().execute(
        stmt
    ):
        tags = parsed.get(text)
        if tags is None:
            tags = parsed[text] = json.loads(text or "{}")
        found.append(ResourceFacts(rid, provider, account, region, service, kind, name, tags))
    return found


class Summary(NamedTuple):
    """The columns of a resource that digests read, without the ORM's per-object cost."""

    resource_id: str
    owner: str | None
    team: str | None
    owner_source: str
    service: str
    account_id: str
    name: str


def summaries(session: Session, *, ids: Collection[str] | None = None) -> list[Summary]:
    """Every resource, or those of ``ids``, as a :class:`Summary` (100,000 in a fraction of
    the ORM's time)."""
    stmt = select(*(getattr(Resource, name) for name in Summary._fields))
    if session.autoflush:
        session.flush()
    if ids is None:
        return [Summary(*row) for row in session.connection().execute(stmt)]
    found = []
    for chunk in in_lists(sorted(ids)):
        rows = session.connection().execute(stmt.where(col(Resource.resource_id).in_(chunk)))
        found += [Summary(*row) for row in rows]
    return found


def without_owner(session: Session) -> list[tuple[str, str]]:
    """(team, name or id) of the resources in a team that no tag, rule or person gave an
    owner: the team's default owner holds them, or nobody does."""
    stmt = select(col(Resource.team), col(Resource.name), col(Resource.resource_id)).where(
        col(Resource.team).is_not(None), col(Resource.team) != "",
        col(Resource.owner_source).in_(("team-default", "unowned")),
    )  # fmt: skip
    return [(str(team), name or rid) for team, name, rid in session.execute(stmt)]


def accounts(session: Session) -> list[tuple[str, str]]:
    """(account id, account name) of every account a resource is in, by id."""
    stmt = (select(col(Resource.account_id), col(Resource.account_name)).distinct()
            .where(col(Resource.account_id) != "").order_by(col(Resource.account_id)))
    return [(str(account), str(name or "")) for account, name in session.execute(stmt)]


def get(session: Session, *, resource: str) -> Resource | None:
    """A resource by id, or by name when the name is unique; nothing for an empty string
    (many resources have no name)."""
    if not resource:
        return None
    found = session.get(Resource, resource)
    if found is not None:
        return found
    same = named(session, resource, limit=2)
    return session.get(Resource, same[0]) if len(same) == 1 else None


def named(session: Session, name: str, *, limit: int = 4) -> list[str]:
    """The ids of (up to ``limit``) resources called ``name``, in id order."""
    stmt = (select(col(Resource.resource_id)).where(col(Resource.name) == name)
            .order_by(col(Resource.resource_id)).limit(limit))
    return [str(rid) for rid in session.scalars(stmt)] if name else []


def find(
    session: Session,
    *,
    owner: str | None = None,
    team: str | None = None,
    unowned: bool = False,
    limit: int | None = None,
    costliest_first: str | None = None,
) -> list[Resource]:
    """Resources of an owner or a team, or the unowned ones, by id; with ``costliest_first``
    (a metric), by their cost over the recent-cost snapshot's 7 days, largest first, then
    those that cost nothing in them, by id."""
    stmt = select(Resource)
    if costliest_first is not None:
        week = rollup.week_cost_order(costliest_first)
        stmt = stmt.outerjoin(week, week.c.resource_id == col(Resource.resource_id)).order_by(
            func.coalesce(week.c.week, literal_column("0")).desc())
    if owner is not None:
        stmt = stmt.where(col(Resource.owner) == owner)
    if team is not None:
        stmt = stmt.where(col(Resource.team) == team)
    if unowned:
        stmt = stmt.where(
            or_(col(Resource.owner).is_(None), col(Resource.owner_source) == "unowned")
        )
    stmt = stmt.order_by(Resource.resource_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def overrides(session: Session) -> dict[str, tuple[str | None, str | None]]:
    """Manual reassignments: resource id -> (owner, team)."""
    return {o.resource_id: (o.owner, o.team) for o in session.scalars(select(OwnerOverride))}


def set_override(
    session: Session,
    *,
    resource_id: str,
    owner: str | None,
    team: str | None,
    set_by: str,
    now: datetime,
) -> None:
    """Record a manual reassignment; it sticks over rules and tags."""
    row = session.get(OwnerOverride, resource_id)
    if row is None:
        row = OwnerOverride(resource_id=resource_id, set_by=set_by, set_at=now)
        session.add(row)
    row.owner, row.team, row.set_by, row.set_at = owner, team, set_by, now
    session.flush()


def save_assignments(session: Session, *, assignments: Mapping[str, Assignment]) -> int:
    """Store resolved owners; only rows whose assignment changed are written."""
    current = {res.resource_id: res for res in summaries(session, ids=assignments)}
    changed = [
        (rid, a.owner, a.team, a.source)
        for rid, a in assignments.items()
        if (res := current.get(rid)) is not None
        and (res.owner, res.team, res.owner_source) != (a.owner, a.team, a.source)
    ]
    moved = {
        p
        for rid, a in assignments.items()
        if (res := current.get(rid)) is not None and (res.team, res.owner) != (a.team, a.owner)
        for p in (rollup.pair(res.team, res.owner), rollup.pair(a.team, a.owner))
    }
    if changed:
        update_rows(session, _RESOURCE, "resource_id", ("owner", "team", "owner_source"), changed)
        _reread(session, {c[0] for c in changed})
        # the costs of resources that changed team or owner move between rollup pairs
        rollup.refresh_pairs(session, pairs=moved)
    return len(changed)
