"""Rollups of ``cost_daily`` that digests read: cost per scope and day, recent cost per resource.

``cost_scope_daily`` holds the daily cost per (team, owner, service, currency). It is kept
exact by the two writers that can change it: ``storage.costs.replace_costs`` recomputes the days
it replaced, and ``storage.resources.save_assignments`` recomputes the (team, owner) pairs whose
membership changed. Both recompute from ``cost_daily`` joined to ``resource`` inside the
caller's transaction, so the rollup is never half-updated.

``resource_recent_cost`` holds each resource's cost over the 7 days ending ``as_of`` and the 7
days before: one snapshot, refreshed after each ingest and dropped when costs in its window are
replaced. Readers fall back to ``cost_daily`` when it is not for the day they need.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col

from storage.models import CostDaily, CostScopeDaily, Resource, ResourceRecentCost

UNOWNED = "unowned"
_SCOPE: Table = CostScopeDaily.__table__  # type: ignore[attr-defined]
_RECENT: Table = ResourceRecentCost.__table__  # type: ignore[attr-defined]
_COST_DAILY: Table = CostDaily.__table__  # type: ignore[attr-defined]
_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout
_MAX_PAIRS = 200  # more changed (team, owner) pairs than this: recompute every day instead
_METRICS = {"BilledCost": "billed", "EffectiveCost": "effective", "ListCost": "list"}

_TEAM = func.coalesce(col(Resource.team), literal(UNOWNED))
_OWNER = func.coalesce(col(Resource.owner), literal(UNOWNED))
_COSTS = (col(CostDaily.billed_cost), col(CostDaily.effective_cost), col(CostDaily.list_cost))


def _scope_rows(*conditions: Any) -> Any:
    """SELECT of rollup rows from cost_daily joined to resource, for the given conditions."""
    keys = (col(CostDaily.day), _TEAM, _OWNER, col(CostDaily.service), col(CostDaily.currency))
    return (
        select(*keys, *(func.sum(c) for c in _COSTS))
        .select_from(CostDaily)
        .outerjoin(Resource, col(Resource.resource_id) == col(CostDaily.resource_id))
        .where(*conditions)
        .group_by(*keys)
    )


_SCOPE_COLUMNS = (
    "day", "team", "owner", "service", "currency", "billed_cost", "effective_cost", "list_cost",
)  # fmt: skip


def refresh_days(session: Session, *, start: date, end: date) -> None:
    """Recompute the rollup for days in [start, end] (after those days' costs changed)."""
    day = col(CostScopeDaily.day)
    session.execute(delete(CostScopeDaily).where(day >= start, day <= end))
    rows = _scope_rows(col(CostDaily.day) >= start, col(CostDaily.day) <= end)
    if _covers_much_of_the_costs(session, start, end):
        rows = _for_much_of_the_table(session, rows)
    session.execute(insert(_SCOPE).from_select(_SCOPE_COLUMNS, rows))


def rebuild(session: Session) -> None:
    """Recompute the whole rollup."""
    session.execute(delete(CostScopeDaily))
    rows = _for_much_of_the_table(session, _scope_rows())
    session.execute(insert(_SCOPE).from_select(_SCOPE_COLUMNS, rows))


def _covers_much_of_the_costs(session: Session, start: date, end: date) -> bool:
    """Whether [start, end] spans at least a quarter of the days cost_daily holds."""
    first, last = session.execute(
        select(func.min(col(CostDaily.day)), func.max(col(CostDaily.day)))
    ).one()
    if first is None:
        return False
    covered = (min(end, last) - max(start, first)).days + 1
    return covered * 4 >= (last - first).days + 1


def _for_much_of_the_table(session: Session, rows: Any) -> Any:
    """``rows`` (a SELECT from cost_daily) set up to read much of the table.

    SQLite reads cost_daily in table order instead of through its day index: cost rows are
    stored resource by resource, so one day's rows lie all over the table. Through the index,
    recomputing a 588,000-row month took about 2.5 s; in table order, about 1.2 s. A short
    span of a long history is still read through the index. PostgreSQL plans this itself,
    from statistics refreshed first (``_refresh_statistics``).
    """
    _refresh_statistics(session)
    return rows.with_hint(_COST_DAILY, "NOT INDEXED", "sqlite")


def _refresh_statistics(session: Session) -> None:
    """On PostgreSQL, ANALYZE cost_daily after much of it was written in this transaction.

    Its statistics still describe the table as it was (empty, on a first ingest): the planner
    then expects a few hundred rows in the span, joins each to its resource through the index
    and sorts them all on disk. A 588,000-row month took 1.9 s to roll up that way, and
    0.55 s with the ANALYZE (which samples the table) done first.

    ANALYZE waits for another one on the same table (another ingest's, autovacuum's) until that
    transaction ends; rather than wait, or deadlock with an ingest waiting for this one, it is
    skipped after 100 ms and the rollup is planned from the statistics there are.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    previous = session.execute(text("SELECT current_setting('lock_timeout')")).scalar_one()
    try:
        with session.begin_nested():  # a lock timeout rolls back to here, its setting too
            session.execute(text("SELECT set_config('lock_timeout', '100ms', true)"))
            session.execute(text(f"ANALYZE {_COST_DAILY.name}"))
            session.execute(text("SELECT set_config('lock_timeout', :previous, true)"),
                            {"previous": previous})
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
            raise


def refresh_pairs(session: Session, *, pairs: Iterable[tuple[str, str]]) -> None:
    """Recompute every day of the given (team, owner) pairs, after resources moved between them.

    Every cost row has a resource row (ingest upserts them in the same transaction), so a
    pair's cost rows are those of the resources now in it.
    """
    wanted = sorted(set(pairs))
    if not wanted:
        return
    if len(wanted) > _MAX_PAIRS:
        rebuild(session)
        return
    session.execute(
        delete(CostScopeDaily).where(
            or_(
                *(
                    and_(col(CostScopeDaily.team) == t, col(CostScopeDaily.owner) == o)
                    for t, o in wanted
                )
            )
        )
    )
    members = select(col(Resource.resource_id)).where(
        or_(*(and_(_TEAM == t, _OWNER == o) for t, o in wanted))
    )
    rows = _scope_rows(col(CostDaily.resource_id).in_(members))
    session.execute(insert(_SCOPE).from_select(_SCOPE_COLUMNS, rows))


def pair(team: str | None, owner: str | None) -> tuple[str, str]:
    """The rollup's (team, owner) key of a resource's assignment."""
    return (team or UNOWNED, owner or UNOWNED)


def scope_days(
    session: Session, *, start: date, end: date, metric: str, owner: str | None = None
) -> list[tuple[date, Sequence[Sequence[Any]]]]:
    """The rollup's rows for each day in [start, end]: (day, [(team, owner, service,
    currency, cost), ...]); with ``owner``, only that owner's.

    The rows as stored, read a day at a time (so no date is parsed per row); a caller wanting
    both the team and the owner sums adds them up itself, cheaper than two GROUP BYs.
    """
    cost = getattr(CostScopeDaily, f"{_METRICS[metric]}_cost")
    stmt = select(
        col(CostScopeDaily.team),
        col(CostScopeDaily.owner),
        col(CostScopeDaily.service),
        col(CostScopeDaily.currency),
        cost,
    ).where(col(CostScopeDaily.day) == bindparam("day", type_=Date))
    if owner is not None:
        stmt = stmt.where(col(CostScopeDaily.owner) == owner)
    conn = session.connection()
    days = (start + timedelta(days=n) for n in range((end - start).days + 1))
    return [(day, conn.execute(stmt, {"day": day}).all()) for day in days]


def _computed_recent(as_of: date, costs: tuple[Any, ...]) -> Any:
    """SELECT resource_id, currency, then per cost column its sum over the 7 days ending
    ``as_of``, then per cost column its sum over the 7 days before: from ``cost_daily``."""
    split = as_of - timedelta(days=6)
    day = col(CostDaily.day)

    def part(cost: Any, recent: bool) -> Any:
        inside = day >= split if recent else day < split
        return func.coalesce(func.sum(case((inside, cost), else_=0.0)), 0.0)

    return (
        select(
            col(CostDaily.resource_id),
            col(CostDaily.currency),
            *(part(c, True) for c in costs),
            *(part(c, False) for c in costs),
        )
        .where(day >= as_of - timedelta(days=13), day <= as_of)
        .group_by(col(CostDaily.resource_id), col(CostDaily.currency))
    )


def refresh_recent(session: Session, *, as_of: date) -> None:
    """Replace the recent-cost snapshot with one for the 7 + 7 days ending ``as_of``."""
    rows = _computed_recent(as_of, _COSTS).add_columns(literal(as_of))
    session.execute(delete(ResourceRecentCost))
    columns = (
        "resource_id", "currency", "billed_week", "effective_week", "list_week",
        "billed_before", "effective_before", "list_before", "as_of",
    )  # fmt: skip
    session.execute(insert(_RECENT).from_select(columns, rows))


def forget_recent(session: Session, *, start: date, end: date) -> None:
    """Drop the snapshot if costs of a day in its window were replaced."""
    as_of = session.scalars(select(col(ResourceRecentCost.as_of)).limit(1)).first()
    if as_of is None:
        return
    stored = as_of if isinstance(as_of, date) else date.fromisoformat(str(as_of))
    if start <= stored and end >= stored - timedelta(days=13):
        session.execute(delete(ResourceRecentCost))


def snapshot_day(session: Session) -> date | None:
    """The day the recent-cost snapshot ends on, or None before the first ingest."""
    stored = session.connection().execute(select(col(ResourceRecentCost.as_of)).limit(1)).first()
    return None if stored is None else date.fromisoformat(str(stored[0])[:10])


def week_cost_order(metric: str) -> Any:
    """(resource_id, week): each resource's largest cost in one currency over the snapshot's 7
    days, to order resource lists costliest first (resources with no cost have no row)."""
    snap = _snapshot(metric).subquery()
    return (select(snap.c.resource_id, func.max(snap.c.week).label("week"))
            .group_by(snap.c.resource_id).subquery())


def week_costs(session: Session, *, resource_ids: Sequence[str],
               metric: str) -> dict[str, list[tuple[str, float]]]:
    """Per resource among ``resource_ids``: (currency, cost) over the snapshot's 7 days, for
    the currencies it cost something in."""
    out: dict[str, list[tuple[str, float]]] = {}
    if not resource_ids:
        return out
    snap = _snapshot(metric).subquery()
    stmt = (select(snap.c.resource_id, snap.c.currency, snap.c.week)
            .where(snap.c.resource_id.in_(list(resource_ids)), snap.c.week != literal_column("0"))
            .order_by(snap.c.resource_id, snap.c.currency))
    for resource, cur, cost in session.connection().execute(stmt):
        out.setdefault(str(resource), []).append((str(cur), float(cost)))
    return out


def _snapshot_is_for(session: Session, as_of: date) -> bool:
    return snapshot_day(session) == as_of


def _snapshot(metric: str) -> Any:
    """SELECT resource_id, currency, week, before FROM the snapshot, for ``metric``."""
    name = _METRICS[metric]
    return select(
        col(ResourceRecentCost.resource_id),
        col(ResourceRecentCost.currency),
        getattr(ResourceRecentCost, f"{name}_week").label("week"),
        getattr(ResourceRecentCost, f"{name}_before").label("before"),
    )


def _recent_source(session: Session, *, as_of: date, metric: str) -> Any:
    """(resource_id, currency, week, before) for ``as_of``: the snapshot when it is for that
    day, else the same figures computed from cost_daily."""
    if _snapshot_is_for(session, as_of):
        return _snapshot(metric).subquery()
    cost = getattr(CostDaily, f"{_METRICS[metric]}_cost")
    rid, currency, week, before = _computed_recent(as_of, (cost,)).subquery().c
    return select(rid.label("resource_id"), currency.label("currency"), week.label("week"),
                  before.label("before")).subquery()


def recent(
    session: Session, *, as_of: date, metric: str
) -> list[tuple[str, str, float, float]] | None:
    """(resource, currency, cost this week, cost the week before), or None if no snapshot
    for ``as_of`` exists."""
    if not _snapshot_is_for(session, as_of):
        return None
    rows = session.connection().execute(_snapshot(metric))
    return [(str(r), str(c), float(w), float(b)) for r, c, w, b in rows]


def recent_by_resource(
    session: Session, *, as_of: date, metric: str, owner: str | None = None
) -> Sequence[Sequence[Any]]:
    """Per resource and currency with a cost in the 14 days ending ``as_of``: (team, owner,
    currency, service, account, name, cost in the 7 days ending ``as_of``, cost in the 7 days
    before). Team and owner are ``unowned`` when unset, the name is the id when unset, and a
    cost row without a resource row keeps its id with no service or account. From the
    snapshot when it is for ``as_of``, else from cost_daily. With ``owner``, only the
    resources that owner has."""
    src = _recent_source(session, as_of=as_of, metric=metric)
    stmt = select(
        func.coalesce(func.nullif(col(Resource.team), ""), literal(UNOWNED)),
        func.coalesce(func.nullif(col(Resource.owner), ""), literal(UNOWNED)),
        src.c.currency,
        func.coalesce(col(Resource.service), literal("")),
        func.coalesce(col(Resource.account_id), literal("")),
        func.coalesce(func.nullif(col(Resource.name), ""), src.c.resource_id),
        src.c.week,
        src.c.before,
    ).outerjoin_from(src, Resource, col(Resource.resource_id) == src.c.resource_id)
    if owner is not None:
        stmt = stmt.where(col(Resource.owner) == owner)
    return session.connection().execute(stmt).all()


def scope_top_resources(
    session: Session, *, dim: str, key: str, as_of: date, metric: str, largest: int
) -> list[tuple[str, str, float]] | None:
    """One team's or owner's costliest resources over the 7 days ending ``as_of``, from the
    recent-cost snapshot: (resource, currency, cost) rows, largest first (ties by resource,
    then currency), resources that cost nothing in those days left out. None if the snapshot
    is not for ``as_of``."""
    if not _snapshot_is_for(session, as_of):
        return None
    scope = {"team": col(Resource.team), "owner": col(Resource.owner)}[dim]
    week = getattr(ResourceRecentCost, f"{_METRICS[metric]}_week")
    rid, currency = col(ResourceRecentCost.resource_id), col(ResourceRecentCost.currency)
    stmt = (
        select(rid, currency, week)
        .join(Resource, col(Resource.resource_id) == rid)
        # a literal zero: as a bound parameter, PostgreSQL's generic plan (a prepared statement
        # after a few runs) guesses `!= $1` keeps one row and loops over every resource
        .where(scope == key, week != literal_column("0"))
        .order_by(week.desc(), rid, currency)
        .limit(largest)
    )
    return [(str(r), str(c), float(v)) for r, c, v in session.connection().execute(stmt)]


def scope_totals(
    session: Session, *, dim: str, key: str, start: date, end: date, metric: str,
    by_service: bool = False,
) -> list[tuple[str, str, float]]:
    """One team's or owner's cost in [start, end]: (service or "", currency, cost) rows,
    largest first — what ``costs.totals`` gives for that scope, from the rollup."""
    scope = {"team": col(CostScopeDaily.team), "owner": col(CostScopeDaily.owner)}[dim]
    cost = func.sum(getattr(CostScopeDaily, f"{_METRICS[metric]}_cost"))
    keys = [col(CostScopeDaily.service)] if by_service else []
    stmt = (
        select(*keys, col(CostScopeDaily.currency), cost)
        .where(scope == key, col(CostScopeDaily.day) >= start, col(CostScopeDaily.day) <= end)
        .group_by(*keys, col(CostScopeDaily.currency))
    )
    rows = [
        (str(r[0]) if by_service else "", str(r[-2]), float(r[-1] or 0.0))
        for r in session.connection().execute(stmt)
    ]
    return sorted(rows, key=lambda r: (-r[2], r[0], r[1]))
