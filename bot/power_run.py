"""Power schedules at run time: for each schedule's latest event, each of its resources gets it
once — a notice with "Keep running tonight" 30 minutes before the stop, the stop, the start.

Each (schedule, resource, event) is claimed as a delivery, so a second run, a restart or a
second replica does nothing twice. Stops re-read the resource first (gone, already stopped,
protected: nothing to do), respect a night someone asked to keep, the kill switch, and
enforcement (off: "would stop"). A provider error on one resource is audited and leaves its
claim to be retried after the lease; the other resources and schedules go on.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from functools import partial

from bot import admins, metrics
from bot import blocks_lifecycle as blocks
from bot import lifecycle as flow
from bot.config_sections import PowerSchedule
from bot.delivery import deliver_once, scope_key
from bot.errors import CommandError, ProviderError
from bot.lifecycle_requests import may_manage, refused
from bot.lifecycle_run import dm, warn_target
from bot.power import NOTICE_BEFORE, Event, last_event
from bot.services import Services
from storage import audit, bookings, lifecycle, resources
from storage.db import session_scope

log = logging.getLogger(__name__)


def run_power(services: Services) -> str:
    """Carry out each schedule's latest event for every resource it covers, once."""
    now = services.now()
    counts: dict[str, int] = {}
    for schedule in services.config.schedules:
        event = last_event(schedule, now)
        if event is None:
            continue
        with session_scope(services.engine) as session:
            targets = bookings.resource_ids(session, ids=schedule.resources,
                                            tag_selector=schedule.tag_selector)
        for rid in targets:
            try:
                outcome = deliver_once(
                    services.engine, kind="power", scope=scope_key(schedule.name, rid),
                    period=event.key, worker=services.worker, now=now,
                    send=partial(_event, services, schedule, event, rid),
                )
            except ProviderError as exc:  # this resource only: its claim is retried later
                outcome = "failed"
                log.warning("power %s of %s (schedule %s) failed; retried after its claim's "
                            "lease: %s", event.kind, rid, schedule.name, exc)
                _audit(services, rid, f"power.{event.kind}.failed", now,
                       {"schedule": schedule.name, "error": str(exc)[:500]})
            if outcome is not None:
                counts[outcome] = counts.get(outcome, 0) + 1
                metrics.POWER_EVENTS.labels(event=event.kind, outcome=outcome).inc()
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing to do"


def _event(services: Services, schedule: PowerSchedule, event: Event, rid: str) -> str:
    now = services.now()
    with session_scope(services.engine) as session:
        res = resources.get(session, resource=rid)
        if res is None:
            return "skipped: unknown resource"
        label = f"`{res.name or rid}`"
        view = blocks.TtlView(resource_id=rid, name=res.name, owner=res.owner, team=res.team,
                              expires_at=None, source=f"schedule {schedule.name}",
                              action="stop")  # fmt: skip
        user_id, _ = warn_target(session, services, view, now)
        kept = lifecycle.kept_running(session, schedule=schedule.name, resource_id=rid,
                                      night=event.day)
        paused = lifecycle.paused(session) is not None
        account, stored_tags = res.account_id, json.loads(res.tags or "{}")
    if event.kind == "notice":
        if kept is not None:
            return "skipped: kept running"
        value = json.dumps({"s": schedule.name, "r": rid, "n": event.day.isoformat()})
        stop_at = event.at + NOTICE_BEFORE
        dm(services, user_id, blocks.power_notice_message(
            schedule=schedule.name, label=label, stop_at=stop_at, tz=schedule.timezone,
            value=value))  # fmt: skip
        return "notice sent" if user_id else "skipped: no chat user"
    if event.kind == "stop" and kept is not None:
        _audit(services, rid, "power.kept", now, {"schedule": schedule.name,
                                                  "night": event.day, "reason": kept.reason,
                                                  "by": kept.set_by})  # fmt: skip
        return "kept running"
    if paused:
        return "skipped: actions paused"
    member = services.fleet.for_resource(rid)
    live = member.describe(rid) if member is not None else None
    if member is None or live is None or live.gone:
        return "skipped: no provider can act on it" if member is None else "skipped: gone"
    if flow.is_protected(dict(live.tags) or stored_tags, account, services.config.lifecycle):
        return "skipped: protected"
    verb = event.kind  # "stop" or "start"
    wanted = "stopped" if verb == "stop" else "running"
    if live.state in (wanted, "stopping" if verb == "stop" else "pending"):
        return f"already {wanted}"
    dry_run = not services.config.lifecycle.enforce
    if not dry_run:
        member.act(rid, "stop" if verb == "stop" else "start")
    _audit(services, rid, f"power.{verb}", now,
           {"schedule": schedule.name, "dry_run": dry_run, "before": live.state,
            "after": "unchanged (dry run)" if dry_run else wanted})  # fmt: skip
    if verb == "stop" or not dry_run:  # a dry-run start would only repeat the stop's news
        dm(services, user_id, blocks.power_done_message(schedule=schedule.name, label=label,
                                                         verb=verb, dry_run=dry_run))
    return f"would {verb}" if dry_run else ("stopped" if verb == "stop" else "started")


def _audit(services: Services, rid: str, action: str, now: datetime, details: dict[str, object]
           ) -> None:
    with session_scope(services.engine) as session:
        audit.record(session, actor="finops-bot", action=action, target=rid, now=now,
                     origin="job", details=details)


def keep_running(services: Services, *, schedule: str, resource_id: str, night: date,
                 reason: str, by: str) -> blocks.Message:
    """"Keep running tonight": the owner, the team's manager or an admin, with a reason."""
    now = services.now()
    if not reason.strip():
        raise CommandError("say why it must keep running tonight")
    if not any(s.name == schedule for s in services.config.schedules):
        raise CommandError(f"there is no schedule `{schedule}` any more")
    with session_scope(services.engine) as session:
        res = resources.get(session, resource=resource_id)
        if res is None:
            raise CommandError(f"no resource `{resource_id}`")
        if not may_manage(services.config, email=by, owner=res.owner, team=res.team,
                          group_members=admins.group_members(services)):
            raise refused(services.config, res, "keep {} running")
        added = lifecycle.keep_running(session, schedule=schedule, resource_id=resource_id,
                                       night=night, reason=reason.strip(), by=by, now=now)
        audit.record(session, actor=by, action="power.keep", target=resource_id, now=now,
                     origin="slack", details={"schedule": schedule, "night": night,
                                              "reason": reason.strip(), "new": added})
        label = f"`{res.name or resource_id}`"
    if not added:
        raise CommandError(f"{label} is already kept running tonight")
    return blocks.kept_message(label=label, night=night.isoformat(), reason=reason.strip(),
                               by=by)
