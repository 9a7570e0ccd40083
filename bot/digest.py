"""The daily digest of one scope (an owner or a team): pure arithmetic over loaded figures.

What it shows: yesterday, month to date, the month-end forecast vs budget, the last 7 days vs
the 7 before ($ and %), top movers by service, resource and account, new anomalies, unowned or
untagged resources, TTLs expiring within 72 h or past and still running, and money the bot's
actions saved this month.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from bot.costs import Change, month_end_forecast

MOVERS = 3
# Equal changes list the most specific first: one resource's change is often also its
# service's and its account's, and the resource says the most.
_SPECIFIC_FIRST = {"resource": 0, "service": 1, "account": 2}


@dataclass(frozen=True, slots=True)
class Mover:
    """A service, resource or account whose cost changed most between the two weeks."""

    dimension: str
    name: str
    change: Change
    # less specific movers with the very same figures, shown as one line with this one: for
    # an owner whose only BigQuery resource is `events`, (("service", "BigQuery"),)
    same_as: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class DigestInputs:
    """Everything a digest needs, loaded in bulk by the job."""

    scope: str  # "team:web" or "owner:alice@example.com"
    title: str
    today: date
    currency: str
    daily: Mapping[date, float]  # this scope's cost per day in ``currency``
    current: Mapping[str, Mapping[str, float]]  # dimension -> name -> last 7 days
    before: Mapping[str, Mapping[str, float]]  # dimension -> name -> the 7 days before
    budget: float | None = None
    anomalies: Sequence[str] = ()  # one line each, already worded
    unowned: Sequence[str] = ()
    # (name, expiry, resource id): also those past their TTL, still there
    expiring: Sequence[tuple[str, datetime, str]] = ()
    saved_mtd: float = 0.0


@dataclass(frozen=True, slots=True)
class Digest:
    """The figures of one digest, and whether it is worth sending."""

    scope: str
    title: str
    currency: str
    day: date
    yesterday: Change  # vs the same weekday a week earlier
    week: Change
    mtd: float
    forecast: float
    budget: float | None
    movers: list[Mover]
    anomalies: list[str]
    unowned: list[str]
    expiring: list[tuple[str, datetime, str]]  # (name, expiry, resource id)
    saved_mtd: float
    chart_days: list[date] = field(default_factory=list)
    # past their TTL, still there
    expired: list[tuple[str, datetime, str]] = field(default_factory=list)

    @property
    def over_budget(self) -> bool:
        return self.budget is not None and self.forecast > self.budget


def _window(daily: Mapping[date, float], end: date, days: int) -> float:
    return sum(daily.get(end - timedelta(days=i), 0.0) for i in range(days))


def movers(current: Mapping[str, Mapping[str, float]],
           before: Mapping[str, Mapping[str, float]], *, top: int = MOVERS) -> list[Mover]:
    """The biggest absolute changes per dimension, largest first. A service or account whose
    two weeks cost the same, to the cent, as a resource (or an account as a service) ranked
    before it is that resource's change again: it joins that line rather than taking one."""
    found: list[Mover] = []
    for dimension in current.keys() | before.keys():
        now_, then = current.get(dimension, {}), before.get(dimension, {})
        # the top few of thousands of resources: rank plain numbers, build only what is kept
        names = heapq.nsmallest(
            top, now_.keys() | then.keys(),
            key=lambda name: (-_cents(now_.get(name, 0.0) - then.get(name, 0.0)), name))
        changes = [Mover(dimension, name, Change(now_.get(name, 0.0), then.get(name, 0.0)))
                   for name in names]
        found.extend(m for m in changes if abs(m.change.delta) >= 0.01)
    ranked = sorted(found, key=lambda m: (-_cents(m.change.delta),
                                          _SPECIFIC_FIRST.get(m.dimension, len(_SPECIFIC_FIRST)),
                                          m.dimension, m.name))
    kept: list[Mover] = []
    by_figures: dict[tuple[float, float], int] = {}
    for mover in ranked:
        figures = (round(mover.change.current, 2), round(mover.change.before, 2))
        same = by_figures.get(figures)
        if same is not None and mover.dimension not in (
                kept[same].dimension, *(d for d, _ in kept[same].same_as)):
            kept[same] = replace(kept[same], same_as=(*kept[same].same_as,
                                                      (mover.dimension, mover.name)))
            continue
        if len(kept) == top * 2:
            continue  # full; a later mover may still join a kept line
        by_figures.setdefault(figures, len(kept))
        kept.append(mover)
    return kept


def _cents(delta: float) -> float:
    """A change's size as movers rank it: in cents, as the same costs summed in another order
    differ in their last bits (and a database sums in the order its plan reads the rows)."""
    return round(abs(delta), 2)


def build(inputs: DigestInputs, *, now: datetime) -> Digest:
    """Compute a scope's digest; TTLs are those expiring within 72 h of ``now``."""
    yesterday = inputs.today - timedelta(days=1)
    month_start = yesterday.replace(day=1)
    daily = inputs.daily
    soon = now + timedelta(hours=72)
    return Digest(
        scope=inputs.scope, title=inputs.title, currency=inputs.currency, day=yesterday,
        yesterday=Change(daily.get(yesterday, 0.0), daily.get(yesterday - timedelta(days=7), 0.0)),
        week=Change(_window(daily, yesterday, 7), _window(daily, yesterday - timedelta(days=7), 7)),
        mtd=sum(v for d, v in daily.items() if month_start <= d <= yesterday),
        forecast=month_end_forecast(daily, today=inputs.today),
        budget=inputs.budget,
        movers=movers(inputs.current, inputs.before),
        anomalies=list(inputs.anomalies),
        unowned=list(inputs.unowned),
        expiring=sorted((e for e in inputs.expiring if now <= e[1] <= soon),
                        key=lambda item: (item[1], item[0])),
        saved_mtd=inputs.saved_mtd,
        chart_days=[yesterday - timedelta(days=i) for i in range(29, -1, -1)],
        expired=sorted((e for e in inputs.expiring if e[1] < now),
                       key=lambda item: (item[1], item[0])),
    )


def is_noise(digest: Digest, *, floor: float, min_change_pct: float) -> bool:
    """Skip a digest whose spend is under the floor, or when nothing worth saying changed."""
    if digest.week.current < floor and digest.week.before < floor:
        return True
    eventful = bool(digest.anomalies or digest.expiring or digest.expired or digest.unowned
                    or digest.over_budget)
    pct = digest.week.pct
    changed = pct is None or abs(pct) >= min_change_pct
    return not (eventful or changed)
