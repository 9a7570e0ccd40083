"""The anomaly scan: build every scope's daily series, detect, explain, store, and alert.

Scopes are ``team:``, ``owner:``, ``account:``, ``service:`` and ``resource:`` series of the
dominant currency of each scope. Only days whose billing data is complete are judged (billing
lags: ``anomaly.lag_days`` before yesterday). Every anomaly is stored once per
(series, day) and listed by ``/finops anomalies``; people are alerted for team and owner
anomalies, and for resource, account or service anomalies only on days when no team or owner
anomaly already tells the story, so one event does not become five messages.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from functools import partial
from typing import Any

from sqlmodel import Session

from bot import metrics
from bot.alerts import labels, recipients, view_of
from bot.anomaly import (
    Alert,
    SeriesFrame,
    detect,
    expected_costs,
    last_complete_day,
    root_cause,
)
from bot.blocks_notify import anomaly_message
from bot.delivery import Failures, deliver_once
from bot.errors import ProviderError
from bot.identity import resolve_slack_ids
from bot.services import Services
from storage import anomalies, costs
from storage.claims import queue_delivery, unsent
from storage.db import session_scope
from storage.models import Anomaly

HISTORY_DAYS = 180
REPORT_DAYS = 7  # alerts older than this at scan time are stored but not sent
RETRY_DAYS = 14  # an alert not sent after this long is dropped from the retries
DIMENSIONS = ("team", "owner", "account", "service", "resource")
ROUTED_FIRST = ("team", "owner")
_BREAKDOWN = {
    "team": ("service", "resource"),
    "owner": ("service", "resource"),
    "account": ("service", "resource"),
    "service": ("account", "resource"),
    "resource": ("service",),
}


def load_series(
    session: Session, *, start: date, end: date, metric: str
) -> tuple[SeriesFrame, dict[str, str]]:
    """Every scope's daily series in its dominant currency, and that currency."""
    by_currency: dict[tuple[str, str], dict[date, float]] = defaultdict(dict)
    for dim in DIMENSIONS:
        for key, day, currency, cost in costs.grouped(
            session, by=[dim, "day"], start=start, end=end, metric=metric
        ):
            if dim in ("team", "owner") and key == costs.UNOWNED:
                continue
            by_currency[(f"{dim}:{key}", currency)][day] = cost
    dominant: dict[str, tuple[str, float]] = {}
    for (series, currency), days in by_currency.items():
        spend = sum(days.values())
        if series not in dominant or spend > dominant[series][1]:
            dominant[series] = (currency, spend)
    data = {s: by_currency[(s, cur)] for s, (cur, _) in dominant.items()}
    return SeriesFrame.from_mapping(data), {s: cur for s, (cur, _) in dominant.items()}


def explain(
    session: Session, alert: Alert, *, metric: str, currency: str
) -> list[dict[str, object]]:
    """Root cause of an alert: the sub-series that moved, each with its share of the change."""
    dim = alert.series.partition(":")[0]
    where = costs.scope_filter(alert.series)
    causes: list[dict[str, object]] = []
    for by in _BREAKDOWN[dim]:
        rows = costs.grouped(
            session,
            by=[by, "day"],
            where=where,
            metric=metric,
            start=alert.day - timedelta(days=HISTORY_DAYS),
            end=alert.day,
        )
        data: dict[str, dict[date, float]] = defaultdict(dict)
        for key, day, cur, cost in rows:
            if cur == currency:
                data[f"{by} {key}"][day] = cost
        frame = SeriesFrame.from_mapping(data)
        current = {name: series.get(alert.day, 0.0) for name, series in data.items()}
        for cause in root_cause(current, expected_costs(frame, alert.day), top=3):
            causes.append({"name": cause.name, "delta": cause.delta, "share": cause.share})
    return causes


def run_scan(services: Services, *, worker: str) -> str:
    """Detect anomalies up to the last complete day; alert each new one once."""
    now = services.now()
    gates = services.config.anomaly
    complete_through = last_complete_day(now.date(), gates)
    start = complete_through - timedelta(days=HISTORY_DAYS - 1)
    metric = services.config.cost_metric
    fresh: list[Anomaly] = []
    with session_scope(services.engine) as session:
        frame, currency = load_series(session, start=start, end=complete_through, metric=metric)
        found = detect(
            frame,
            gates=gates,
            complete_through=complete_through,
            since=complete_through - timedelta(days=REPORT_DAYS - 1),
        )
        for alert in found:
            cur = currency[alert.series]
            row = anomalies.save_new(
                session,
                series=alert.series,
                day=alert.day,
                expected=alert.expected,
                actual=alert.actual,
                impact=alert.impact,
                impact_pct=min(alert.impact_pct, 1e6),
                score=alert.score,
                causes=explain(session, alert, metric=metric, currency=cur),
                currency=cur,
                now=now,
            )
            if row is not None:
                fresh.append(row)
        quiet = anomalies.snoozed(session, now=now)
        _queue_alerts(session, services, [a for a in fresh if a.series not in quiet])
    failures = Failures("alerts")
    sent = _notify(services, failures, worker=worker)
    done = (
        f"{len(found)} anomalies in the last {REPORT_DAYS} days, {len(fresh)} new, "
        f"{sent} alerts sent"
    )
    failures.raise_if_any(done)  # the next scan sends what failed
    return done


def _to_notify(new: list[Anomaly]) -> list[Anomaly]:
    covered = {a.day for a in new if a.series.partition(":")[0] in ROUTED_FIRST}
    return [a for a in new if a.series.partition(":")[0] in ROUTED_FIRST or a.day not in covered]


def _queue_alerts(session: Session, services: Services, new: list[Anomaly]) -> None:
    """Record each alert to send in the scan's own transaction (an outbox): an alert whose send
    fails stays unsent there and the next scan retries it, though its anomaly is no longer new."""
    for anomaly in _to_notify(new):
        for kind, address in recipients(session, anomaly, config=services.config):
            queue_delivery(session, kind="anomaly", scope=f"{anomaly.id}:{kind}:{address}",
                           period=anomaly.day.isoformat())


def _send_alert(services: Services, kind: str, address: str, user_id: str | None, text: str,
                blocks: list[dict[str, Any]]) -> str:
    if kind == "channel":
        services.chat.post(address, text, blocks)
    elif user_id is not None:
        services.chat.post(services.chat.open_dm(user_id), text, blocks)
    else:
        return "skipped: no chat user"
    return "sent"


def _notify(services: Services, failures: Failures, *, worker: str) -> int:
    """Send every queued alert not sent yet (a refused one stops no other); returns how many
    were sent."""
    now = services.now()
    since = (now.date() - timedelta(days=RETRY_DAYS)).isoformat()
    with session_scope(services.engine) as session:
        pending = unsent(session, kind="anomaly", period_from=since)
        targets = [(int(aid), kind, address, scope, period) for scope, period in pending
                   for aid, kind, address in [scope.split(":", 2)]]
        found = anomalies.by_ids(session, ids=[t[0] for t in targets])
        named = labels(session, [a.series for a in found.values()])
        ids = resolve_slack_ids(session, services.chat,
                                [t[2] for t in targets if t[1] == "user"], now=now)
    sent = 0
    for anomaly_id, kind, address, scope, period in targets:
        anomaly = found.get(anomaly_id)
        if anomaly is None:
            continue
        text, blocks = anomaly_message(view_of(anomaly, label=named[anomaly.series]))
        user_id = ids.get(address) if kind == "user" else None
        send = partial(_send_alert, services, kind, address, user_id, text, blocks)
        try:
            outcome = deliver_once(services.engine, kind="anomaly", scope=scope, period=period,
                                   worker=worker, now=now, send=send)
        except ProviderError as exc:
            if failures.add(f"{anomaly.series} to {address}", exc):
                break
            continue
        failures.ok()
        if outcome == "sent":
            sent += 1
            metrics.ALERTS_SENT.labels(kind=anomaly.series.partition(":")[0]).inc()
    return sent
