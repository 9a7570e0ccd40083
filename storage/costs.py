"""Repository for daily cost rows: idempotent period replacement and grouped totals."""

from __future__ import annotations

import hashlib
import marshal
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Table, and_, delete, func, literal, or_, select
from sqlalchemy.sql.util import find_tables
from sqlmodel import Session, col

from bot.records import DailyCost
from storage import rollup
from storage.db import in_lists, insert_rows
from storage.models import CostDaily, CostDayDigest, Resource

GroupBy = Literal["owner", "team", "service", "account", "resource", "day", "provider"]
UNOWNED = rollup.UNOWNED
GROUP_BYS: tuple[str, ...] = ("owner", "team", "service", "account", "resource", "day", "provider")
_RESOURCE: Table = Resource.__table__  # type: ignore[attr-defined]
_COST_DAILY: Table = CostDaily.__table__  # type: ignore[attr-defined]
_COST_COLUMNS = (
    "day", "resource_id", "provider", "billing_account_id", "sub_account_id", "sub_account_name",
    "service", "region", "resource_name", "resource_type", "currency", "billed_cost",
    "effective_cost", "list_cost",
)  # fmt: skip
_DIGESTS: Table = CostDayDigest.__table__  # type: ignore[attr-defined]
_DIGEST_COLUMNS = ("provider", "billing_account_id", "day", "digest")


@dataclass(frozen=True, slots=True)
class ReplaceResult:
    """What a replace did: rows deleted, rows now stored from the batch (``kept`` of them, in
    days that did not change, were left as they were), and the period per billing scope."""

    deleted: int
    written: int
    kept: int
    periods: dict[tuple[str, str], tuple[date, date]]


def _metric_column(metric: str) -> Any:
    return {
        "EffectiveCost": CostDaily.effective_cost,
        "BilledCost": CostDaily.billed_cost,
        "ListCost": CostDaily.list_cost,
    }[metric]


def replace_costs(
    session: Session,
    *,
    rows: Sequence[DailyCost],
    digests: Mapping[tuple[str, str, date], str] | None = None,
) -> ReplaceResult:
    """Replace, per (provider, billing account), every stored day in the rows' period.

    Re-ingesting a period never double counts, and late data for the last days updates them.
    A day whose rows are the same as those stored (by ``cost_day_digest``) is left as it is: a
    month-to-date export read again every few hours brings back mostly what is stored, and
    rewriting it all would hold the database's write lock as long again. The caller's
    transaction makes it atomic.

    ``digests`` are the source's own digests of some days' rows (``CostBatch.day_digests``);
    the other days are digested here. The two kinds never equal each other, so a day digested
    the other way than last time is rewritten once.
    """
    given = digests or {}
    periods: dict[tuple[str, str], tuple[date, date]] = {}
    by_day: dict[tuple[str, str, date], list[DailyCost]] = defaultdict(list)
    for row in rows:
        key = (row.provider, row.billing_account_id)
        lo, hi = periods.get(key, (row.day, row.day))
        periods[key] = (min(lo, row.day), max(hi, row.day))
        by_day[(*key, row.day)].append(row)
    deleted = kept = 0
    rewrite: set[tuple[str, str, date]] = set()
    new_digests: list[tuple[str, str, date, str]] = []
    for (provider, account), (lo, hi) in periods.items():
        scope = (col(CostDayDigest.provider) == provider,
                 col(CostDayDigest.billing_account_id) == account)  # fmt: skip
        stored: dict[date, str] = {
            day: digest for day, digest in session.execute(
                select(col(CostDayDigest.day), col(CostDayDigest.digest))
                .where(*scope, col(CostDayDigest.day) >= lo, col(CostDayDigest.day) <= hi))
        }  # fmt: skip
        days: list[date] = []
        for offset in range((hi - lo).days + 1):
            day = lo + timedelta(days=offset)
            day_rows = by_day.get((provider, account, day), [])
            digest = (given.get((provider, account, day)) or _digest(day_rows)
                      if day_rows else None)  # fmt: skip
            if digest is not None and stored.get(day) == digest:
                kept += len(day_rows)
                continue
            days.append(day)  # changed, new, or no longer in the source: rewritten
            rewrite.add((provider, account, day))
            if digest is not None:
                new_digests.append((provider, account, day, digest))
        for chunk in in_lists(days):
            result = session.execute(delete(CostDaily).where(
                col(CostDaily.provider) == provider, col(CostDaily.billing_account_id) == account,
                col(CostDaily.day).in_(chunk)))  # fmt: skip
            deleted += int(getattr(result, "rowcount", 0) or 0)
            session.execute(delete(CostDayDigest).where(*scope, col(CostDayDigest.day).in_(chunk)))
    insert_rows(session, _DIGESTS, _DIGEST_COLUMNS, new_digests)
    # in the rows' own order (by resource, then day, from the file sources): the indexes on
    # resource and name are then filled mostly in order
    insert_rows(session, _COST_DAILY, _COST_COLUMNS,
                (_values(r) for r in rows
                 if (r.provider, r.billing_account_id, r.day) in rewrite))  # fmt: skip
    if rewrite:
        lo, hi = min(d for _, _, d in rewrite), max(d for _, _, d in rewrite)
        rollup.refresh_days(session, start=lo, end=hi)
        rollup.forget_recent(session, start=lo, end=hi)
    return ReplaceResult(deleted=deleted, written=len(rows), kept=kept, periods=periods)


def _digest(rows: Sequence[DailyCost]) -> str:
    """The same for the same rows in any order; any value changed changes it.

    Day, provider and billing account are the day's key, so they are left out. Marshal
    format 2 writes every value by itself (no back-references, floats as their exact 8
    bytes), so equal values give equal bytes; it is about twice as fast as pickle, which
    also wrote shared strings differently. A Python release that changed the format would
    only cost each day one rewrite.
    """
    values = sorted(
        (r.resource_id, r.sub_account_id, r.sub_account_name, r.service, r.region,
         r.resource_name, r.resource_type, r.currency, r.billed_cost, r.effective_cost,
         r.list_cost)
        for r in rows
    )  # fmt: skip
    return hashlib.blake2b(marshal.dumps(values, 2), digest_size=16).hexdigest()


def _values(r: DailyCost) -> tuple[Any, ...]:
    """A row's values in ``_COST_COLUMNS`` order."""
    return (
        r.day, r.resource_id, r.provider, r.billing_account_id, r.sub_account_id,
        r.sub_account_name, r.service, r.region, r.resource_name, r.resource_type,
        r.currency, r.billed_cost, r.effective_cost, r.list_cost,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Total:
    """A grouped cost total; currencies are never summed together."""

    key: str
    currency: str
    cost: float


def _group_column(group_by: str) -> Any:
    columns: dict[str, Any] = {
        "owner": func.coalesce(Resource.owner, literal(UNOWNED)),
        "team": func.coalesce(Resource.team, literal(UNOWNED)),
        "service": CostDaily.service,
        "account": CostDaily.sub_account_id,
        "resource": CostDaily.resource_id,
        "day": CostDaily.day,
        "provider": CostDaily.provider,
    }
    try:
        return columns[group_by]
    except KeyError as exc:
        raise ValueError(f"cannot group by {group_by!r}; choose one of {GROUP_BYS}") from exc


def cost_filter(
    *,
    owner: str | None = None,
    team: str | None = None,
    resource: str | None = None,
    account: str | None = None,
    service: str | None = None,
) -> list[ColumnElement[bool]]:
    """Conditions selecting one owner's, team's, resource's, account's or service's costs."""
    conditions: list[ColumnElement[bool]] = []
    if service is not None:
        conditions.append(col(CostDaily.service) == service)
    if owner is not None:
        conditions.append(col(Resource.owner) == owner)
    if team is not None:
        conditions.append(col(Resource.team) == team)
    if resource is not None:
        conditions.append(
            or_(col(CostDaily.resource_id) == resource, col(CostDaily.resource_name) == resource)
        )
    if account is not None:
        conditions.append(
            or_(
                col(CostDaily.sub_account_id) == account, col(CostDaily.sub_account_name) == account
            )
        )
    return conditions


def grouped(
    session: Session,
    *,
    by: Sequence[str],
    start: date,
    end: date,
    metric: str = "EffectiveCost",
    where: Iterable[ColumnElement[bool]] = (),
    largest: int | None = None,
) -> list[tuple[Any, ...]]:
    """Rows of (key per ``by`` dimension..., currency, cost) for days in [start, end].

    ``largest``: only that many rows, the costliest first (ties by key, then currency).
    """
    keys = [_group_column(name).label(f"k{i}") for i, name in enumerate(by)]
    conditions = [col(CostDaily.day) >= start, col(CostDaily.day) <= end, *where]
    cost = func.sum(_metric_column(metric))
    stmt = select(*keys, col(CostDaily.currency), cost).select_from(CostDaily)
    # resource_id is resource's key, so the outer join never adds rows: skip it when no key or
    # condition reads resource (SQLite would otherwise look up every cost row's resource)
    if any(_reads_resource(c) for c in (*keys, *conditions)):
        stmt = stmt.outerjoin(Resource, col(Resource.resource_id) == col(CostDaily.resource_id))
    stmt = stmt.where(and_(*conditions)).group_by(*keys, col(CostDaily.currency))
    if largest is not None:
        order = (func.coalesce(cost, 0.0).desc(), *keys, col(CostDaily.currency))
        stmt = stmt.order_by(*order).limit(largest)
    if session.autoflush:
        session.flush()
    # plain rows through the connection: the ORM's per-row result processing is not needed here
    return [tuple(row) for row in session.connection().execute(stmt).all()]


def _reads_resource(clause: ColumnElement[Any]) -> bool:
    return any(table is _RESOURCE for table in find_tables(clause, check_columns=True))


def totals(
    session: Session,
    *,
    start: date,
    end: date,
    group_by: str,
    metric: str = "EffectiveCost",
    where: Iterable[ColumnElement[bool]] = (),
    largest: int | None = None,
) -> list[Total]:
    """Cost per group and currency for days in [start, end] (inclusive), largest first.

    ``largest``: only the top that many (a scope's top resources out of thousands).
    """
    rows = [
        Total(str(k), str(c), float(v or 0.0))
        for k, c, v in grouped(session, by=[group_by], start=start, end=end, metric=metric,
                               where=where, largest=largest)
    ]
    if group_by == "day":
        return sorted(rows, key=lambda t: (t.key, t.currency))
    return sorted(rows, key=lambda t: (-t.cost, t.key, t.currency))


def daily_series(
    session: Session,
    *,
    start: date,
    end: date,
    metric: str = "EffectiveCost",
    where: Iterable[ColumnElement[bool]] = (),
) -> dict[str, dict[date, float]]:
    """Cost per currency per day in [start, end], for charts and forecasts."""
    series: dict[str, dict[date, float]] = defaultdict(dict)
    for t in totals(session, start=start, end=end, group_by="day", metric=metric, where=where):
        series[t.currency][date.fromisoformat(t.key)] = t.cost
    return dict(series)


def scope_filter(series: str) -> list[ColumnElement[bool]]:
    """Conditions for an anomaly series name such as ``team:web`` or ``service:BigQuery``."""
    dimension, _, key = series.partition(":")
    if dimension not in ("owner", "team", "resource", "account", "service"):
        raise ValueError(f"not a scope: {series!r}")
    return cost_filter(**{dimension: key})


def date_range(session: Session) -> tuple[date, date] | None:
    """First and last day with any cost, or None when nothing is stored."""
    lo, hi = session.execute(select(func.min(CostDaily.day), func.max(CostDaily.day))).one()
    return None if lo is None else (lo, hi)
