"""The digest job: load every scope's figures in bulk, build each digest, send each once a day.

Scopes are teams with a Slack channel (posted there) and owners with costs (sent by DM). A
delivery is claimed in the database before it is sent, so a second run, a restart or a second
replica posts nothing new; a digest skipped as noise is recorded as delivered too.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session

from bot import blocks_notify
from bot.alerts import labels_and_audiences
from bot.charts import daily_stacked_png
from bot.config import Config
from bot.delivery import Failures, deliver_once
from bot.digest import Digest, DigestInputs, build, is_noise
from bot.errors import ProviderError
from bot.identity import resolve_slack_ids
from bot.services import Services
from storage import anomalies, lifecycle, resources, rollup, savings
from storage.db import session_scope

WINDOW_DAYS = 35
_DIMENSIONS = ("service", "resource", "account")


@dataclass(frozen=True, slots=True)
class Built:
    """A digest with its chart series and where it goes."""

    digest: Digest
    chart: dict[str, dict[date, float]]
    team: str | None = None
    owner: str | None = None


def _dimensions() -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    return {}, {}, {}  # in the order of _DIMENSIONS


def digest_for(session: Session, *, config: Config, owner: str, now: datetime) -> Built | None:
    """One owner's digest (for `/finops digest`), reading only that owner's costs; None when
    they have none in the window."""
    built = load_all(session, config, today=now.date(), now=now, owner=owner)
    return built[0] if built else None


Sums = dict[str, float]  # name -> cost


def _week_sums(
    session: Session, *, yesterday: date, metric: str, owner: str | None
) -> list[dict[str, tuple[Sums, Sums, Sums]]]:
    """Per "scope|currency": the cost of each service, resource and account (in the order of
    _DIMENSIONS) in the week ending yesterday ([0]) and in the week before ([1])."""
    weeks: list[dict[str, tuple[Sums, Sums, Sums]]] = [
        defaultdict(_dimensions),
        defaultdict(_dimensions),
    ]
    # where a (team, owner, currency) adds up: this week's then last week's sums of its team
    # and of its owner, found once rather than per resource (100,000 of them at scale)
    targets: dict[tuple[str, str, str], tuple[tuple[tuple[Sums, Sums, Sums], ...], ...]] = {}
    for team, owner_, currency, service, account, name, *week_costs in rollup.recent_by_resource(
        session, as_of=yesterday, metric=metric, owner=owner
    ):
        found = targets.get((team, owner_, currency))
        if found is None:
            scopes = (f"team:{team}|{currency}", f"owner:{owner_}|{currency}")
            found = targets[(team, owner_, currency)] = tuple(
                tuple(per_scope[scope] for scope in scopes) for per_scope in weeks
            )
        for sums_of_week, cost in zip(found, week_costs, strict=True):
            if not cost:
                continue
            for services, resources_, accounts in sums_of_week:
                services[service] = services.get(service, 0.0) + cost
                resources_[name] = resources_.get(name, 0.0) + cost
                accounts[account] = accounts.get(account, 0.0) + cost
    return weeks


def load_all(session: Session, config: Config, *, today: date, now: datetime,
             owner: str | None = None) -> list[Built]:
    """Every team's and owner's digest, from a handful of bulk queries; with ``owner``, only
    that owner's, from that owner's rows alone (the same digest, at a fraction of the cost)."""
    metric = config.cost_metric
    yesterday = today - timedelta(days=1)
    start = yesterday - timedelta(days=WINDOW_DAYS - 1)
    by_scope: dict[str, dict[str, dict[date, float]]] = defaultdict(dict)
    currency_spend: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    # where a rollup row adds up: its team's and its owner's spend and series of its service,
    # found once per (team, owner, service, currency) rather than per row
    targets: dict[tuple[str, ...], tuple[tuple[dict[str, float], dict[date, float]], ...]] = {}
    for day, rows in rollup.scope_days(session, start=start, end=yesterday, metric=metric,
                                       owner=owner):
        for team, owner_, service, currency, cost in rows:
            found = targets.get((team, owner_, service, currency))
            if found is None:
                found = targets[(team, owner_, service, currency)] = tuple(
                    (currency_spend[scope], by_scope[f"{scope}|{currency}"].setdefault(service, {}))
                    for scope in ("team:" + team, "owner:" + owner_)
                )
            for spend, series in found:
                spend[currency] += cost
                series[day] = series.get(day, 0.0) + cost
    weeks = _week_sums(session, yesterday=yesterday, metric=metric, owner=owner)

    unowned: dict[str, list[str]] = defaultdict(list)
    for team, name in resources.without_owner(session) if owner is None else ():
        unowned[f"team:{team}"].append(name)  # only teams' digests list them
    expiring: dict[str, list[tuple[str, datetime, str]]] = defaultdict(list)
    soon = lifecycle.expiring(session, now=now, end=now + timedelta(hours=72))
    stored = {r.resource_id: r for r in resources.summaries(session, ids={r for r, _ in soon})}
    for rid, at in soon:
        if (res := stored.get(rid)) is not None:
            for scope in (f"team:{res.team}", f"owner:{res.owner}"):
                expiring[scope].append((res.name or rid, at, rid))

    fresh = [a for a in anomalies.created_since(session, since=now - timedelta(days=1))
             if a.status == "open"]
    named, concerns = labels_and_audiences(session, [a.series for a in fresh])
    alerts: dict[str, list[str]] = defaultdict(list)
    for a in fresh:  # a resource's anomaly also goes into its owner's and its team's digests
        for scope in sorted(concerns[a.series]):
            alerts[scope].append(blocks_notify.anomaly_line(named[a.series], a.day, a.actual,
                                                            a.expected, a.currency))
    month_start = datetime.combine(yesterday.replace(day=1), time(0), tzinfo=UTC)
    saved = savings.saved_between(session, start=month_start, end=now)

    built: list[Built] = []
    for scope, spend in currency_spend.items():
        dim, key = scope.split(":", 1)
        if key == "unowned" or owner is not None and scope != f"owner:{owner}":
            continue  # with ``owner``, a team's sums hold only that owner's part
        team_cfg = config.teams.get(key) if dim == "team" else None
        if dim == "team" and (team_cfg is None or not team_cfg.slack_channel):
            continue
        currency = max(spend, key=lambda c: spend[c])
        chart = by_scope[f"{scope}|{currency}"]
        daily: dict[date, float] = defaultdict(float)
        for series in chart.values():
            for day, cost in series.items():
                daily[day] += cost
        inputs = DigestInputs(
            scope=scope,
            title=f"Team {key}" if dim == "team" else key,
            today=today,
            currency=currency,
            daily=daily,
            current=dict(zip(_DIMENSIONS, weeks[0].get(f"{scope}|{currency}", ()), strict=False)),
            before=dict(zip(_DIMENSIONS, weeks[1].get(f"{scope}|{currency}", ()), strict=False)),
            budget=(
                team_cfg.budget if team_cfg is not None and team_cfg.currency == currency else None
            ),
            anomalies=alerts.get(scope, []),
            unowned=sorted(unowned.get(scope, [])),
            expiring=expiring.get(scope, []),
            saved_mtd=saved.get(scope, 0.0),
        )
        built.append(
            Built(
                build(inputs, now=now),
                chart,
                team=key if dim == "team" else None,
                owner=key if dim == "owner" else None,
            )
        )
    return built


def run_digests(services: Services, *, worker: str = "local") -> str:
    """Build and send today's digests; each scope at most once per day.

    A scope Slack refuses does not stop the others (``Failures``); the job then fails naming
    it, and a later run takes its claim over after the lease.
    """
    now = services.now()
    today = now.date()
    period = today.isoformat()
    cfg = services.config.digest
    with session_scope(services.engine) as session:
        built = load_all(session, services.config, today=today, now=now)
        owners = [b.owner for b in built if b.owner]
        slack_ids = resolve_slack_ids(session, services.chat, owners, now=now)
    sent = skipped = 0
    failures = Failures("digests")
    for item in built:

        def send(item: Built = item) -> str:
            if is_noise(item.digest, floor=cfg.floor, min_change_pct=cfg.min_change_pct):
                return "skipped: noise"
            if item.team is not None:
                _send(services, services.config.teams[item.team].slack_channel or "", item)
            elif (user_id := slack_ids.get(item.owner or "")) is not None:
                _send(services, services.chat.open_dm(user_id), item)
            else:
                return "skipped: no chat user"
            return "sent"

        try:
            outcome = deliver_once(services.engine, kind="digest", scope=item.digest.scope,
                                   period=period, worker=worker, now=now, send=send)
        except ProviderError as exc:
            if failures.add(item.digest.scope, exc):
                break
            continue
        failures.ok()
        if outcome is not None:
            sent += outcome == "sent"
            skipped += outcome != "sent"
    done = f"{sent} digests sent, {skipped} skipped"
    failures.raise_if_any(done)
    return done


def _send(services: Services, channel: str, item: Built) -> None:
    text, message = blocks_notify.digest_message(item.digest)
    services.chat.post(channel, text, message)
    png = daily_stacked_png(
        item.chart,
        item.digest.chart_days,
        title=f"{item.digest.title}: last 30 days by service",
        currency=item.digest.currency,
    )
    services.chat.upload_file(
        channel,
        f"costs-{item.digest.day}.png",
        png,
        title=f"{item.digest.title}, 30 days by service",
    )
