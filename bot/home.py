"""App Home: one person's resources, team budget, open anomalies and expiring TTLs."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlmodel import Session

from bot import blocks_envs, envs
from bot.admins import GroupMembers, is_admin
from bot.alerts import open_lines_seen_by
from bot.blocks_notify import HomeView, home_view
from bot.config import Config
from bot.costs import period_bounds
from storage import costs, lifecycle, resources, savings


def build_home(session: Session, *, config: Config, email: str, now: datetime,
               group_members: GroupMembers | None = None) -> dict[str, Any]:
    """The App Home view of ``email`` (``group_members``: for admins through admin groups)."""
    today = now.date()
    month = period_bounds("mtd", today=today)
    last30 = period_bounds("30d", today=today)
    mine = resources.find(session, owner=email)
    team = next((r.team for r in mine if r.team), None)
    if team is None:
        team = next((name for name, t in config.teams.items() if email in t.members), None)
    team_cfg = config.teams.get(team or "")
    team_currency = team_cfg.currency if team_cfg is not None else "USD"
    # each resource's cost in each of its currencies: currencies are never summed together
    spend: dict[str, dict[str, float]] = defaultdict(dict)
    for t in costs.totals(session, start=last30.start, end=last30.end, group_by="resource",
                          metric=config.cost_metric, where=costs.cost_filter(owner=email)):
        spend[t.key][t.currency] = t.cost
    ranked = sorted(((r.name or r.resource_id, cost, currency) for r in mine
                     for currency, cost in (spend.get(r.resource_id) or {team_currency: 0.0})
                     .items()), key=lambda item: (-item[1], item[0], item[2]))
    team_mtd: dict[str, float] | None = None
    if team is not None:
        team_mtd = defaultdict(float)
        for t in costs.totals(session, start=month.start, end=month.end, group_by="provider",
                              metric=config.cost_metric, where=costs.cost_filter(team=team)):
            team_mtd[t.currency] += t.cost
    names = {r.resource_id: r.name or r.resource_id for r in mine}
    expiring = sorted(((names[rid], at, rid) for rid, at in lifecycle.expiring(
        session, now=now, end=now + timedelta(hours=72), resource_ids=list(names))),
        key=lambda e: (e[1], e[0]))
    month_start = datetime.combine(month.start, time(0), tzinfo=UTC)
    saved = savings.saved_between(session, start=month_start, end=now).get(f"owner:{email}", 0.0)
    shared = envs.home_envs(session, config, email, now=now)
    view = HomeView(email=email, resources=ranked[:10], resource_count=len(mine),
                    team=team, team_mtd=team_mtd, team_currency=team_currency,
                    team_budget=team_cfg.budget if team_cfg is not None else None,
                    anomalies=open_lines_seen_by(session, config=config, email=email,
                                                 group_members=group_members),
                    admin=is_admin(config, email, group_members=group_members),
                    bookings=[(blocks_envs.held_line(v, now=now),
                               blocks_envs.buttons(v, for_holder=True)) for v in shared.held],
                    waiting=shared.waiting, environments=blocks_envs.env_rows(shared.others),
                    expiring=[e for e in expiring if e[1] >= now],
                    expired=[e for e in expiring if e[1] < now],
                    saved_mtd=saved)
    return home_view(view)
