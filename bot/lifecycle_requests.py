"""What people do about TTL workflows from Slack: see a TTL, extend it, destroy now, ask for and
decide an exemption, pause and resume actions (admins).

Who may do what: the resource's owner, its team's manager and the admins extend, destroy and
ask; the team manager or an admin decides exemptions; only admins pause. Every change is
audited with the person who made it.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot import admins
from bot import blocks_lifecycle as blocks
from bot import lifecycle as flow
from bot.admins import GroupMembers
from bot.blocks_kit import Message, text_message
from bot.config import Config
from bot.errors import CommandError
from bot.identity import resolve_slack_ids
from bot.lifecycle_run import dm, run_step, to_admins, view_of
from bot.lifecycle_sync import sync, ttl_of
from bot.services import Services
from storage import audit, lifecycle, resources
from storage.db import session_scope
from storage.models import Lifecycle, Resource


def may_manage(config: Config, *, email: str, owner: str | None, team: str | None,
               group_members: GroupMembers | None = None) -> bool:
    """The owner, the team's manager and the admins may extend, destroy or exempt."""
    manager = config.teams[team].manager if team in config.teams else None
    return (admins.is_admin(config, email, group_members=group_members) or email == owner
            or (manager is not None and email == manager))


def refused(config: Config, res: Resource, act: str, *, owner: bool = True) -> CommandError:
    """``only bob@example.com (the owner), … or an admin can destroy `perf-test-bob`.``
    for ``act`` "destroy {}" (without the owner for what only managers and admins decide)."""
    named = [(res.owner, "the owner")] if owner else []
    who = admins.who_may(config, res.team, *named)
    return CommandError(f"only {who} can {act.format(f'`{res.name or res.resource_id}`')}.")


def resource(session: Session, target: str) -> Resource:
    """The resource ``target`` names (its id, or its name when no other has it); otherwise
    CommandError saying why: no such resource, or several called that (with their ids)."""
    found = resources.get(session, resource=target)
    if found is None and not target:  # only a button can send no name
        raise CommandError("That button does not name a resource.")
    if found is None:
        same = resources.named(session, target)
        if len(same) > 1:
            listed = ", ".join(f"`{rid}`" for rid in same[:3])
            more = ", …" if len(same) > 3 else ""
            raise CommandError(f"more than one resource is called `{target}`: give the id of "
                               f"the one you mean ({listed}{more})")
        raise CommandError(f"no resource `{target}` (give its id or its unique name)")
    return found


def ttl_view(session: Session, *, config: Config, target: str, now: datetime) -> blocks.TtlView:
    """`ttl R`: the resource's TTL, where it comes from and where its workflow stands."""
    res = resource(session, target)
    row = lifecycle.get(session, resource_id=res.resource_id)
    if row is None:
        ttl = ttl_of(res, config=config,
                     override=lifecycle.override(session, resource_id=res.resource_id))
        row = Lifecycle(resource_id=res.resource_id, updated_at=now,
                        expires_at=ttl.expires_at if ttl else None,
                        source=ttl.source if ttl else "no TTL tag or policy",
                        action=ttl.action if ttl else "notify", state="active")  # fmt: skip
    return view_of(session, row, config=config, now=now)


def extend(session: Session, *, config: Config, target: str, text: str, by: str,
           now: datetime, group_members: GroupMembers | None = None) -> Message:
    """`extend R DURATION` and the Extend buttons: counts from the current expiry."""
    res = resource(session, target)
    if not may_manage(config, email=by, owner=res.owner, team=res.team,
                      group_members=group_members):
        raise refused(config, res, "extend the TTL of {}")
    override = lifecycle.override(session, resource_id=res.resource_id)
    ttl = ttl_of(res, config=config, override=override)
    previous = ttl.expires_at if ttl else None
    new = flow.extended_expiry(previous, text, now=now,
                               max_extension=config.lifecycle.max_extension)
    lifecycle.set_override(session, resource_id=res.resource_id, expires_at=new, set_by=by,
                           now=now, reason=f"extend {text}")
    sync(session, config=config, now=now, resource_ids=[res.resource_id])
    audit.record(session, actor=by, action="lifecycle.extend", target=res.resource_id, now=now,
                 origin="slack", details={"before": previous, "after": new, "text": text})
    view = ttl_view(session, config=config, target=res.resource_id, now=now)
    return blocks.extended_message(view, previous=previous, by=by)


def destroy_now(services: Services, *, target: str, by: str) -> Message:
    """The confirmed Destroy now button: re-checked like any act, dry run unless enforced."""
    now = services.now()
    with session_scope(services.engine) as session:
        res = resource(session, target)
        if not may_manage(services.config, email=by, owner=res.owner, team=res.team,
                          group_members=admins.group_members(services)):
            raise refused(services.config, res, "destroy {}")
        if lifecycle.paused(session) is not None:
            raise CommandError("lifecycle actions are paused (`resume-actions` to resume).")
        lifecycle.start_workflows(session, wanted={res.resource_id: lifecycle.Wanted(
            expires_at=now, source=f"destroy now by {by}", action="destroy", policy=None,
            warn_before_s=0, grace_s=0)}, now=now)  # fmt: skip
        lifecycle.set_state(session, resource_id=res.resource_id, now=now, state=flow.DUE,
                            warned_at=now, notified_at=now, next_at=now)
        lifecycle.set_override(session, resource_id=res.resource_id, expires_at=now,
                               set_by=by, now=now, reason="destroy now")
        row = lifecycle.get(session, resource_id=res.resource_id)
        assert row is not None
        session.expunge(row)
    outcome = run_step(services, row, "act")
    with session_scope(services.engine) as session:
        done = lifecycle.get(session, resource_id=res.resource_id)
        audit.record(session, actor=by, action="lifecycle.destroy_now", target=res.resource_id,
                     now=now, origin="slack", details={"outcome": outcome})
        text = f"{res.name or res.resource_id}: {done.outcome if done else outcome}"
    return text_message(text)


def request_exemption(services: Services, *, target: str, by: str, reason: str) -> Message:
    """Ask the team manager (else the admins) to exempt the resource."""
    now = services.now()
    with session_scope(services.engine) as session:
        res = resource(session, target)
        row = lifecycle.get(session, resource_id=res.resource_id)
        if row is not None and row.state == flow.EXEMPT:
            return blocks.skipped_message(ttl_view(session, config=services.config,
                                                   target=res.resource_id, now=now),
                                          reason="it is already exempt")
        request = lifecycle.request_exemption(session, resource_id=res.resource_id,
                                              requested_by=by, reason=reason, now=now)
        view = ttl_view(session, config=services.config, target=res.resource_id, now=now)
        team = services.config.teams.get(res.team or "")
        manager = team.manager if team else None
        ids = resolve_slack_ids(session, services.chat, [manager] if manager else [], now=now)
        audit.record(session, actor=by, action="lifecycle.exemption.request",
                     target=res.resource_id, now=now, origin="slack",
                     details={"reason": reason, "manager": manager})
    if request is None:
        text = f"An exemption for {view.label} is already waiting for an answer."
        return text_message(text)
    assert request.id is not None
    message = blocks.exemption_request_message(view, exemption_id=request.id, requester=by,
                                               reason=reason)
    manager_id = ids.get(manager or "")
    if not dm(services, manager_id, message):
        to_admins(services, message, scope=f"exemption:{request.id}", period="request")
    text = f"Asked {'the team manager' if manager_id else 'the admins'} to exempt {view.label}."
    return text_message(text)


def decide_exemption(services: Services, *, exemption_id: int, approve: bool,
                     by: str) -> Message:
    """Approve / Deny: the team manager or an admin; the requester is told."""
    now = services.now()
    with session_scope(services.engine) as session:
        pending = lifecycle.exemption(session, exemption_id=exemption_id)
        if pending is None:
            raise CommandError("that exemption request no longer exists.")
        res = resource(session, pending.resource_id)
        team = services.config.teams.get(res.team or "")
        admin = admins.is_admin(services.config, by, group_members=admins.group_members(services))
        if not admin and (team is None or team.manager != by):
            raise refused(services.config, res, "decide the exemption of {}", owner=False)
        decided = lifecycle.decide_exemption(session, exemption_id=exemption_id,
                                             approve=approve, by=by, now=now)
        if decided is None:
            raise CommandError(f"that request was already {pending.status}.")
        if approve:
            lifecycle.set_state(session, resource_id=res.resource_id, now=now,
                                state=flow.EXEMPT, next_at=None, outcome=f"exempted by {by}")
        audit.record(session, actor=by, action="lifecycle.exemption.decide",
                     target=res.resource_id, now=now, origin="slack",
                     details={"approved": approve, "exemption": exemption_id})
        view = ttl_view(session, config=services.config, target=res.resource_id, now=now)
        ids = resolve_slack_ids(session, services.chat, [decided.requested_by], now=now)
    message = blocks.exemption_decided_message(view, approved=approve, by=by)
    dm(services, ids.get(decided.requested_by), message)
    return message


def set_paused(session: Session, *, config: Config, paused: bool, by: str,
               now: datetime, group_members: GroupMembers | None = None) -> Message:
    """`pause-actions` / `resume-actions` (admins): the kill switch for stop and destroy."""
    if not admins.is_admin(config, by, group_members=group_members):
        raise CommandError("only admins can pause or resume actions.")
    changed = lifecycle.set_paused(session, value=paused, by=by, now=now)
    audit.record(session, actor=by, action="lifecycle.pause" if paused else "lifecycle.resume",
                 target="actions", now=now, origin="slack", details={"changed": changed})
    if not changed:
        text = f"Lifecycle actions were already {'paused' if paused else 'running'}."
        return text_message(text)
    return blocks.paused_message(paused=paused, by=by)
