"""Anomaly alerts: who receives them, what the buttons do, and the breakdown behind one.

Routing: ``owner:X`` goes to X by DM; ``team:T`` to the team's channel; ``resource:R`` to its
owner and its team's channel; ``service:`` and ``account:`` scopes to the admins by DM. Each
(anomaly, recipient) is delivered once; snoozed scopes stay quiet.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.admins import GroupMembers, is_admin
from bot.blocks_notify import AlertView, anomaly_line, anomaly_message, breakdown_message
from bot.config import Config
from storage import anomalies, costs, resources
from storage.models import Anomaly

SNOOZE = timedelta(days=7)
BASELINE_DAYS = 7
LISTED = 50  # open anomalies listed at most (newest first)


def _resources_of(session: Session, series: Sequence[str]) -> dict[str, resources.Summary]:
    """The resources the ``resource:`` series among ``series`` are about, by id."""
    ids = {key for dimension, _, key in (s.partition(":") for s in series)
           if dimension == "resource"}
    return {r.resource_id: r for r in resources.summaries(session, ids=ids)} if ids else {}


def labels(session: Session, series: Sequence[str]) -> dict[str, str]:
    """How people know each scope: "team data", "owner bob@example.com", and a resource by its
    name ("resource events") rather than its id, which for Google Cloud and Azure is a long
    path. The series names themselves (``team:data``) stay what the detector's CSV says."""
    return _labels(series, _resources_of(session, series))


def labels_and_audiences(session: Session, series: Sequence[str]
                         ) -> tuple[dict[str, str], dict[str, set[str]]]:
    """``labels``, and the owner and team scopes each series concerns: itself, and for a
    resource its owner's and its team's, whom its alerts go to (``recipients``). The
    resources are looked up once for both."""
    found = _resources_of(session, series)
    concerns: dict[str, set[str]] = {}
    for scope in series:
        dimension, _, key = scope.partition(":")
        concerns[scope] = {scope}
        if dimension == "resource" and (res := found.get(key)) is not None:
            concerns[scope] |= {f"owner:{res.owner}"} if res.owner else set()
            concerns[scope] |= {f"team:{res.team}"} if res.team else set()
    return _labels(series, found), concerns


def _labels(series: Sequence[str], found: dict[str, resources.Summary]) -> dict[str, str]:
    out = {}
    for scope in series:
        dimension, _, key = scope.partition(":")
        if dimension == "resource" and key in found and found[key].name:
            key = found[key].name
        out[scope] = f"{dimension} {key}" if key else scope
    return out


def view_of(a: Anomaly, *, label: str = "") -> AlertView:
    causes = [(c["name"], float(c["delta"]), float(c["share"])) for c in json.loads(a.causes)]
    return AlertView(a.id or 0, a.series, a.day, a.expected, a.actual, a.impact, a.impact_pct,
                     a.score, a.currency, causes, a.status, a.feedback_by, label)


def recipients(session: Session, a: Anomaly, *, config: Config) -> list[tuple[str, str]]:
    """(kind, address) pairs: ("user", email) or ("channel", name)."""
    dimension, _, key = a.series.partition(":")
    out: list[tuple[str, str]] = []

    def team_channel(team: str | None) -> None:
        cfg = config.teams.get(team or "")
        if cfg is not None and cfg.slack_channel:
            out.append(("channel", cfg.slack_channel))

    if dimension == "owner":
        out.append(("user", key))
    elif dimension == "team":
        team_channel(key)
    elif dimension == "resource":
        res = resources.get(session, resource=key)
        if res is not None and res.owner:
            out.append(("user", res.owner))
        team_channel(res.team if res is not None else None)
    else:
        out.extend(("user", admin) for admin in config.admins)
    return out


def breakdown(session: Session, a: Anomaly, *, metric: str,
              by: str = "resource") -> list[tuple[str, float, float]]:
    """Each item's cost on the anomaly day vs its average over the week before."""
    where = costs.scope_filter(a.series)
    day_rows = costs.grouped(session, by=[by], start=a.day, end=a.day, metric=metric, where=where)
    base_rows = costs.grouped(session, by=[by], start=a.day - timedelta(days=BASELINE_DAYS),
                              end=a.day - timedelta(days=1), metric=metric, where=where)
    now_ = {str(k): v for k, cur, v in day_rows if cur == a.currency}
    base = {str(k): v / BASELINE_DAYS for k, cur, v in base_rows if cur == a.currency}
    rows = [(name, now_.get(name, 0.0), base.get(name, 0.0)) for name in now_.keys() | base.keys()]
    return sorted(rows, key=lambda r: -abs(r[1] - r[2]))


def on_button(session: Session, *, action_id: str, anomaly_id: int, by: str, now: datetime,
              metric: str) -> tuple[str, list[dict[str, Any]], bool] | None:
    """Apply a button; returns (text, blocks, replace_original) or None if the anomaly is gone."""
    a = anomalies.get(session, anomaly_id=anomaly_id)
    if a is None:
        return None
    view = view_of(a, label=labels(session, [a.series])[a.series])
    if action_id == "anomaly_breakdown":
        text, blocks = breakdown_message(view, breakdown(session, a, metric=metric))
        return text, blocks, False
    if action_id == "anomaly_snooze":
        until = now + SNOOZE
        anomalies.snooze(session, series=a.series, until=until, by=by)
        anomalies.set_feedback(session, anomaly_id=anomaly_id, status="acknowledged", by=by,
                               now=now)
        text, blocks = anomaly_message(view_of(a, label=view.title))
        blocks.insert(-1, {"type": "context", "elements": [{
            "type": "mrkdwn", "text": f":zzz: {view.title} snoozed until {until:%b %d} by {by}"}]})
        return text, blocks, True
    status = {"anomaly_ack": "acknowledged", "anomaly_expected": "expected"}[action_id]
    anomalies.set_feedback(session, anomaly_id=anomaly_id, status=status, by=by, now=now)
    text, blocks = anomaly_message(view_of(a, label=view.title))
    return text, blocks, True


def open_lines_for(session: Session, scopes: set[str]) -> list[str]:
    """One line per open anomaly that concerns one of ``scopes`` (``owner:...``,
    ``team:...``): of that scope itself, or of a resource it owns or holds."""
    found = anomalies.open_for(session, series=None, limit=1000)
    named, concerns = labels_and_audiences(session, sorted({a.series for a in found}))
    return _lines([a for a in found if concerns[a.series] & scopes][:LISTED], named)


def open_lines_seen_by(session: Session, *, config: Config, email: str,
                       group_members: GroupMembers | None = None) -> list[str]:
    """The open anomalies ``email`` is shown (`/finops anomalies`, App Home): an admin's are all
    of them, anyone else's those of their own scope, their teams' and their teams' resources."""
    if is_admin(config, email, group_members=group_members):
        return open_lines(session, series=None)
    teams = {r.team for r in resources.find(session, owner=email) if r.team}
    teams |= {name for name, t in config.teams.items() if email in t.members or t.manager == email}
    return open_lines_for(session, {f"owner:{email}"} | {f"team:{t}" for t in teams})


def open_lines(session: Session, *, series: Sequence[str] | None) -> list[str]:
    """One line per open anomaly of ``series`` (None: of every scope)."""
    found = anomalies.open_for(session, series=series, limit=LISTED)
    return _lines(found, labels(session, [a.series for a in found]))


def _lines(found: Sequence[Anomaly], named: dict[str, str]) -> list[str]:
    return [anomaly_line(named[a.series], a.day, a.actual, a.expected, a.currency)
            for a in found]
