"""App Home: one person's resources, team budget, open anomalies and expiring TTLs."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlmodel import Session

from bot.alerts import open_lines
from bot.blocks_notify import HomeView, home_view
from bot.config import Config
from bot.costs import period_bounds
from storage import costs, lifecycle, resources, savings


def build_home(session: Session, *, config: Config, email: str, now: datetime) -> dict[str, Any]:
    """The App Home view of ``email``."""
    today = now.date()
    month = period_bounds("mtd", today=today)
    last30 = period_bounds("30d", today=today)
    mine = resources.find(session, owner=email)
    spend = {t.key: t.cost for t in costs.totals(
        session, start=last30.start, end=last30.end, group_by="resource",
        metric=config.cost_metric, where=costs.cost_filter(owner=email))}
    ranked = sorted(((r.name or r.resource_id, spend.get(r.resource_id, 0.0)) for r in mine),
                    key=lambda item: -item[1])
    team = next((r.team for r in mine if r.team), None)
    if team is None:
        team = next((name for name, t in config.teams.items() if email in t.members), None)
    team_mtd = None
    if team is not None:
        team_mtd = sum(t.cost for t in costs.totals(
            session, start=month.start, end=month.end, group_by="provider",
            metric=config.cost_metric, where=costs.cost_filter(team=team)))
    names = {r.resource_id: r.name or r.resource_id for r in mine}
    expiring = [(names[rid], at) for rid, at in lifecycle.expiring(
        session, start=now, end=now + timedelta(hours=72), resource_ids=list(names))]
    month_start = datetime.combine(month.start, time(0), tzinfo=UTC)
    saved = savings.saved_between(session, start=month_start, end=now).get(f"owner:{email}", 0.0)
    budget = config.teams[team].budget if team in config.teams else None
    view = HomeView(email=email, resources=ranked[:10], resource_count=len(mine), currency="USD",
                    team=team, team_mtd=team_mtd, team_budget=budget,
                    anomalies=open_lines(session, series=[f"owner:{email}"] +
                                         ([f"team:{team}"] if team else [])),
                    expiring=sorted(expiring, key=lambda e: (e[1], e[0])), saved_mtd=saved)
    return home_view(view)
