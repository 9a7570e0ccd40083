"""TTL workflows at run time: carry out the due steps (sweep): warn, notice, act. Keeping each
resource's workflow in step with its TTL is ``bot.lifecycle_sync``; what people do about them
from Slack (extend, destroy now, exemptions, pause) is in ``bot.lifecycle_requests``.

Every step is claimed in the database before it runs (storage.lifecycle.claim) and finished
under the same claim; the act step re-reads the TTL from the database and the resource from
its provider right before acting. Enforcement off (the default) turns every stop and destroy
into a "would" message and an audit entry.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot import blocks_lifecycle as blocks
from bot import lifecycle as flow
from bot import metrics
from bot.blocks_kit import Message
from bot.config import Config
from bot.delivery import deliver_once
from bot.durations import parse_span
from bot.errors import ProviderError, ResourceGone
from bot.identity import resolve_slack_ids
from bot.lifecycle_sync import sync, sync_if_config_changed, ttl_of
from bot.services import Services
from providers.compute import LiveResource
from storage import audit, costs, lifecycle, resources, savings
from storage.db import session_scope

log = logging.getLogger(__name__)


# --- views and recipients ----------------------------------------------------------------


def _daily_cost(session: Session, *, resource_id: str, now: datetime,
                metric: str) -> tuple[float | None, str]:
    """The resource's average daily cost over the last 7 complete days, and its currency."""
    end = now.date() - timedelta(days=1)
    rows = costs.grouped(session, by=["resource"], start=end - timedelta(days=6), end=end,
                         metric=metric, where=costs.cost_filter(resource=resource_id))
    if not rows:
        return None, "USD"
    _, currency, total = max(rows, key=lambda r: abs(r[2] or 0.0))
    return float(total or 0.0) / 7, str(currency)


def view_of(session: Session, row: lifecycle.Row, *, config: Config,
            now: datetime) -> blocks.TtlView:
    res = resources.get(session, resource=row.resource_id)
    cost, currency = _daily_cost(session, resource_id=row.resource_id, now=now,
                                 metric=config.cost_metric)
    # an extension counts from the expiry (now, once passed) and stops at now + max_extension
    room = (now + parse_span(config.lifecycle.max_extension)
            - max(row.expires_at or now, now))
    return blocks.TtlView(
        resource_id=row.resource_id, name=res.name if res else "", owner=res.owner if res else None,
        team=res.team if res else None, expires_at=row.expires_at, source=row.source,
        action=row.action, state=row.state, next_at=row.next_at, outcome=row.outcome,
        daily_cost=cost, currency=currency, extend_room=room,
    )  # fmt: skip


def _admin_ids(session: Session, services: Services, now: datetime) -> list[str]:
    ids = resolve_slack_ids(session, services.chat, services.config.admins, now=now)
    return [i for i in ids.values() if i]


def warn_target(session: Session, services: Services, view: blocks.TtlView,
                 now: datetime) -> tuple[str | None, str | None]:
    """(Slack user id to warn, why it is not the owner) — the owner, else the team manager."""
    team = services.config.teams.get(view.team or "")
    manager = team.manager if team is not None else None
    emails = [e for e in (view.owner, manager) if e]
    ids = resolve_slack_ids(session, services.chat, emails, now=now)
    if view.owner and ids.get(view.owner):
        return ids[view.owner], None
    if manager and ids.get(manager):
        why = ("its owner is unknown" if not view.owner
               else f"its owner {view.owner} is not on Slack")
        return ids[manager], why
    return None, None


def to_admins(services: Services, message: Message, *, scope: str, period: str) -> None:
    """Alert the admin channel (or each admin by DM), once per (scope, period)."""
    text, blocks_ = message
    now = services.now()

    def send() -> str:
        if services.config.lifecycle.admin_channel:
            services.chat.post(services.config.lifecycle.admin_channel, text, blocks_)
            return "sent"
        with session_scope(services.engine) as session:
            ids = _admin_ids(session, services, now)
        for user_id in ids:
            services.chat.post(services.chat.open_dm(user_id), text, blocks_)
        return "sent" if ids else "skipped: no admin on chat"

    deliver_once(services.engine, kind="lifecycle-admin", scope=scope, period=period,
                 worker=services.worker, now=now, send=send)


def dm(services: Services, user_id: str | None, message: Message) -> bool:
    if user_id is None:
        return False
    services.chat.post(services.chat.open_dm(user_id), message[0], message[1])
    return True


# --- the sweep -----------------------------------------------------------------------------


def run_lifecycle(services: Services) -> str:
    """One sweep: every due step, oldest first; acts stop at the cap and alert the admins."""
    cfg = services.config.lifecycle
    now = services.now()
    with session_scope(services.engine) as session:
        sync_if_config_changed(session, config=services.config, now=now)
        rows = lifecycle.due(session, now=now)
        paused = lifecycle.paused(session) is not None
    counts: dict[str, int] = {}
    acts = 0
    for index, row in enumerate(rows):
        step = flow.next_step(row.state, row.action)
        if step is None:
            continue
        acting = step == "act" and flow.provider_action(row.action) is not None
        if acting and paused:
            counts["paused"] = counts.get("paused", 0) + 1
            continue
        if acting and acts >= cfg.max_actions_per_run:
            remaining = sum(
                1 for r in rows[index:]
                if flow.next_step(r.state, r.action) == "act" and flow.provider_action(r.action)
            )  # fmt: skip
            to_admins(services, blocks.cap_message(acted=acts, remaining=remaining,
                                                    cap=cfg.max_actions_per_run),
                       scope="cap", period=now.strftime("%Y-%m-%dT%H:%M"))  # fmt: skip
            counts["halted"] = remaining
            break
        outcome = run_step(services, row, step)
        if acting and outcome not in ("taken", "refused"):
            acts += 1
        counts[outcome] = counts.get(outcome, 0) + 1
    if not counts:
        return f"{len(rows)} steps due"
    return f"{len(rows)} steps due: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def run_step(services: Services, row: lifecycle.Row, step: flow.Step) -> str:
    """Claim one step and carry it out; a provider error leaves it retryable, reported."""
    outcome = _run_step(services, row, step)
    metrics.LIFECYCLE_ACTIONS.labels(action=row.action, outcome=outcome).inc()
    return outcome


def _run_step(services: Services, row: lifecycle.Row, step: flow.Step) -> str:
    now = services.now()
    worker = services.worker
    with session_scope(services.engine) as session:
        if not lifecycle.claim(session, row=row, worker=worker, now=now):
            return "taken"
    try:
        if step == "warn":
            return _warn(services, row, now)
        if step == "notice":
            return _notice(services, row, now)
        return _act(services, row, now)
    except ProviderError as exc:
        attempts = row.attempts + 1
        retry_at = now + flow.retry_delay(attempts)
        error = str(exc)[:500]
        with session_scope(services.engine) as session:
            lifecycle.finish(session, resource_id=row.resource_id, worker=worker, now=now,
                             last_error=error, next_at=retry_at)
            audit.record(session, actor="finops-bot", action=f"lifecycle.{step}.failed",
                         target=row.resource_id, now=now, origin="job",
                         details={"error": error, "attempt": attempts, "retry_at": retry_at})
            view = view_of(session, row, config=services.config, now=now)
        log.warning("lifecycle %s of %s failed (attempt %d): %s", step, row.resource_id,
                    attempts, error)
        to_admins(services, blocks.failure_message(view, error=error, attempts=attempts,
                                                    retry_at=retry_at),
                   scope=f"failed:{row.resource_id}", period=f"{step}:{attempts}")
        return "failed"


def _warn(services: Services, row: lifecycle.Row, now: datetime) -> str:
    assert row.expires_at is not None
    with session_scope(services.engine) as session:
        view = view_of(session, row, config=services.config, now=now)
        user_id, why = warn_target(session, services, view, now)
    if user_id is None:
        to_admins(services, blocks.unreachable_message(view, now=now),
                   scope=f"unreachable:{row.resource_id}", period=now.date().isoformat())
        with session_scope(services.engine) as session:
            lifecycle.finish(session, resource_id=row.resource_id, worker=services.worker,
                             now=now, outcome="no one to warn", next_at=now + timedelta(days=1))
            audit.record(session, actor="finops-bot", action="lifecycle.unreachable",
                         target=row.resource_id, now=now, origin="job",
                         details={"owner": view.owner, "team": view.team})
        return "unreachable"
    if row.action == "notify" and row.expires_at <= now:
        # nothing will be done to it: one "it has expired" message is the whole workflow
        dm(services, user_id, blocks.expired_message(view))
        with session_scope(services.engine) as session:
            _done(session, row, worker=services.worker, now=now, outcome="notified",
                  details={"escalated": why})
        return "notified"
    if row.action == "notify-then-destroy" and row.expires_at <= now:
        # warned only after the expiry: this warning is the notice, the grace starts now
        return _notice(services, row, now, user_id=user_id, view=view)
    dm(services, user_id, blocks.warning_message(view, escalated_from=why))
    grace = timedelta(seconds=row.grace_s)
    next_at = flow.after_warning(action=row.action, expires_at=row.expires_at, grace=grace,
                                 now=now)
    with session_scope(services.engine) as session:
        lifecycle.finish(session, resource_id=row.resource_id, worker=services.worker, now=now,
                         state=flow.WARNED, warned_at=now, next_at=next_at,
                         outcome=f"warned {'manager' if why else 'owner'}", last_error="")
        audit.record(session, actor="finops-bot", action="lifecycle.warn",
                     target=row.resource_id, now=now, origin="job",
                     details={"before": row.state, "after": flow.WARNED,
                              "expires_at": row.expires_at, "next_at": next_at,
                              "escalated": why})  # fmt: skip
    return "warned"


def _notice(services: Services, row: lifecycle.Row, now: datetime, *,
            user_id: str | None = None, view: blocks.TtlView | None = None) -> str:
    if view is None:
        with session_scope(services.engine) as session:
            view = view_of(session, row, config=services.config, now=now)
            user_id, _ = warn_target(session, services, view, now)
    destroy_at = flow.after_notice(grace=timedelta(seconds=row.grace_s), now=now)
    dm(services, user_id, blocks.notice_message(view, destroy_at=destroy_at))
    with session_scope(services.engine) as session:
        lifecycle.finish(session, resource_id=row.resource_id, worker=services.worker, now=now,
                         state=flow.DUE, notified_at=now, next_at=destroy_at,
                         warned_at=row.warned_at or now, outcome="expiry notice sent",
                         last_error="")
        audit.record(session, actor="finops-bot", action="lifecycle.notice",
                     target=row.resource_id, now=now, origin="job",
                     details={"before": row.state, "after": flow.DUE, "destroy_at": destroy_at})
    return "noticed"


def _live(services: Services, resource_id: str) -> tuple[bool, LiveResource | None]:
    """(a provider can act on it, what the provider says now)."""
    member = services.fleet.for_resource(resource_id)
    if member is None:
        return False, None
    return True, member.describe(resource_id)


def _act(services: Services, row: lifecycle.Row, now: datetime) -> str:
    verb = flow.provider_action(row.action)
    with session_scope(services.engine) as session:
        view = view_of(session, row, config=services.config, now=now)
        user_id, _ = warn_target(session, services, view, now)
        if verb is None:  # notify only: the TTL passed, tell the owner, done
            dm(services, user_id, blocks.expired_message(view))
            _done(session, row, worker=services.worker, now=now, outcome="notified",
                  details={})
            return "notified"
    handled, live = _live(services, row.resource_id)
    with session_scope(services.engine) as session:
        res = resources.get(session, resource=row.resource_id)
        override = lifecycle.override(session, resource_id=row.resource_id)
        live_tags = dict(live.tags) if live is not None else None
        fresh = (ttl_of(res, config=services.config, override=override, tags=live_tags)
                 if res is not None else None)
        tags = live_tags if live_tags is not None else json.loads(res.tags if res else "{}")
        check = flow.Recheck(
            planned_expiry=row.expires_at,
            fresh_expiry=fresh.expires_at if fresh else None,
            has_ttl=fresh is not None,
            exists=handled and live is not None and not live.gone,
            protected=flow.is_protected(tags, res.account_id if res else "",
                                        services.config.lifecycle),
            warned_at=row.warned_at, notified_at=row.notified_at,
        )  # fmt: skip
        reason = flow.refusal(check, action=row.action, grace=timedelta(seconds=row.grace_s),
                              now=now)
        if not handled:
            reason = "no configured provider can act on it"
        if reason is not None:
            return _refuse(session, services, row, view, reason=reason, live=live, now=now)
    dry_run = not services.config.lifecycle.enforce
    before = live.state if live is not None else "unknown"
    if not dry_run:
        member = services.fleet.for_resource(row.resource_id)
        assert member is not None and live is not None
        try:
            member.act(row.resource_id, verb)
        except ResourceGone:  # went away between the re-read and the call
            with session_scope(services.engine) as session:
                return _refuse(session, services, row, view, reason=flow.GONE,
                               live=None, now=now)
    after_live = None if dry_run else _live(services, row.resource_id)[1]
    after = "unchanged (dry run)" if dry_run else (after_live.state if after_live else "gone")
    dm(services, user_id, blocks.acted_message(view, dry_run=dry_run))
    with session_scope(services.engine) as session:
        outcome = f"dry run: would {verb}" if dry_run else lifecycle.ACTED_OUTCOMES[verb]
        if not dry_run and view.daily_cost:
            savings.record(session, resource_id=row.resource_id, action=verb,
                           daily_cost=view.daily_cost, currency=view.currency, since=now,
                           owner=view.owner, team=view.team)
        _done(session, row, worker=services.worker, now=now, outcome=outcome,
              details={"before": before, "after": after, "dry_run": dry_run,
                       "daily_cost": view.daily_cost})  # fmt: skip
    return "would " + verb if dry_run else outcome


def _done(session: Session, row: lifecycle.Row, *, worker: str, now: datetime, outcome: str,
          details: dict[str, Any]) -> None:
    lifecycle.finish(session, resource_id=row.resource_id, worker=worker, now=now,
                     state=flow.DONE, next_at=None, outcome=outcome, last_error="")
    audit.record(session, actor="finops-bot", action="lifecycle.act", target=row.resource_id,
                 now=now, origin="job", details={"outcome": outcome, "state_before": row.state,
                                                 "state_after": flow.DONE, **details})


def _refuse(session: Session, services: Services, row: lifecycle.Row, view: blocks.TtlView, *,
            reason: str, live: LiveResource | None, now: datetime) -> str:
    """Do not act; say why, and leave the workflow where it should be."""
    worker = services.worker
    details = {"reason": reason, "live_state": live.state if live else None}
    if reason == flow.TTL_CHANGED:
        lifecycle.finish(session, resource_id=row.resource_id, worker=worker, now=now,
                         outcome=f"not acted: {reason}")
        sync(session, config=services.config, now=now, resource_ids=[row.resource_id])
    elif reason in flow.LATER:
        grace = timedelta(seconds=row.grace_s)
        later = max(row.expires_at or now, (row.notified_at or row.warned_at or now) + grace)
        lifecycle.finish(session, resource_id=row.resource_id, worker=worker, now=now,
                         next_at=max(later, now + timedelta(minutes=1)))
    else:  # gone, protected, no provider: this workflow is over
        if reason == flow.GONE and row.attempts >= 1 and live is not None:
            reason = "it was already gone (an earlier attempt may have done it)"
        lifecycle.finish(session, resource_id=row.resource_id, worker=worker, now=now,
                         state=flow.DONE, next_at=None, outcome=f"not acted: {reason}"[:200])
    audit.record(session, actor="finops-bot", action="lifecycle.refused",
                 target=row.resource_id, now=now, origin="job", details=details)
    if reason not in flow.LATER:
        user_id, _ = warn_target(session, services, view, now)
        dm(services, user_id, blocks.skipped_message(view, reason=reason))
    return "refused"
