"""Answers to `/finops` commands: parse, authorise, read storage, build the reply.

Shared by the Slack handlers, the console transport and ``finops-bot shell``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session

from bot import (
    alerts,
    blocks,
    blocks_envs,
    blocks_lifecycle,
    blocks_notify,
    digests,
    envs,
    lifecycle_requests,
)
from bot.admins import GroupMembers, is_admin, who_may
from bot.commands import Command, UserRef, parse
from bot.config import Config
from bot.costs import Change, CostReport, Line, Period, by_currency, period_bounds, previous
from bot.errors import CommandError
from bot.pipeline import reassign_owners
from storage import audit, costs, identity, resources, rollup
from storage.db import DATABASE_DOWN

if TYPE_CHECKING:
    from providers.jira import TicketClient

_LIST_LIMIT = 25


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a command, from where (slack, shell), and how to find other users' emails."""

    email: str
    user_id: str | None = None
    origin: str = "shell"
    email_of: Callable[[str], str | None] | None = None  # chat user id -> email
    group_members: GroupMembers | None = None  # for admin checks through admin groups
    tickets: TicketClient | None = None  # Jira, to check the ticket a booking links to


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply: notification text, Block Kit blocks, and whether only the caller sees it."""

    text: str
    blocks: list[blocks.Block]
    ephemeral: bool = True


def failure_text(error: BaseException) -> str:
    """What the user is told when their request failed (its transaction was rolled back);
    the details stay in the log."""
    if isinstance(error, DATABASE_DOWN):
        reason = "the database is not answering"
    else:
        reason = "something went wrong on my side (it is logged)"
    return f"Sorry, I could not do that just now: {reason}. Please try again in a minute."


def answer(session: Session, *, config: Config, caller: Caller, text: str, now: datetime) -> Reply:
    """The reply to command ``text``; bad input gets a short error and no change.

    Text the grammar does not take gets the command list too; a well-formed command that
    cannot be done (``book nope 2h``, ``release qa`` when it is free) gets only its reason.
    """
    try:
        command = parse(text)
    except CommandError as exc:
        return Reply(*blocks.help_message(config.command, error=str(exc)))
    try:
        return _dispatch(session, config=config, caller=caller, command=command, now=now)
    except CommandError as exc:
        return Reply(*blocks.error_message(str(exc), command=config.command))


def _dispatch(
    session: Session, *, config: Config, caller: Caller, command: Command, now: datetime
) -> Reply:
    if command.verb == "help":
        return Reply(*blocks.help_message(config.command))
    if command.verb == "costs":
        return _costs(session, config=config, caller=caller, command=command, now=now)
    if command.verb == "resources":
        return _resources(session, config=config, caller=caller, command=command)
    if command.verb == "owner":
        return _owner(session, config=config, caller=caller, command=command, now=now)
    if command.verb == "anomalies":
        return _anomalies(session, config=config, caller=caller)
    if command.verb == "digest":
        return _digest(session, config=config, caller=caller, now=now)
    if envs.handles(config, command):
        actor = envs.Actor(email=caller.email, user_id=caller.user_id, origin=caller.origin,
                           group_members=caller.group_members)
        return Reply(*envs.answer(session, config=config, command=command, actor=actor, now=now,
                                  tickets=caller.tickets))
    if command.verb == "ttl":
        view = lifecycle_requests.ttl_view(session, config=config,
                                           target=command.target or "", now=now)
        return Reply(*blocks_lifecycle.ttl_message(
            view, now=now, dry_run=not config.lifecycle.enforce))
    if command.verb == "extend":  # not an environment: a resource's TTL
        return Reply(*lifecycle_requests.extend(
            session, config=config, target=command.target or "", text=command.duration or "",
            by=caller.email, now=now, group_members=caller.group_members))
    if command.verb in ("pause-actions", "resume-actions"):
        return Reply(*lifecycle_requests.set_paused(
            session, config=config, by=caller.email, now=now,
            paused=command.verb == "pause-actions", group_members=caller.group_members),
            ephemeral=False)
    raise CommandError(f"`{command.verb}` is not available in this version yet.")


_ACCOUNTS_SHOWN = 10


def _unknown_team(config: Config, name: str | None) -> CommandError:
    known = ", ".join(sorted(config.teams)) or "none configured"
    return CommandError(f"unknown team `{name}` (teams: {known})")


def _check_known(session: Session, command: Command) -> None:
    """Refuse an account the bot has never seen, rather than answer "no costs" (a resource is
    looked up before its costs)."""
    target = command.target or ""
    if command.scope == "account":
        known = resources.accounts(session)
        if not any(target in (account, name) for account, name in known):
            shown = [f"{name} ({account})" if name and name != account else account
                     for account, name in known[:_ACCOUNTS_SHOWN]]
            if len(known) > _ACCOUNTS_SHOWN:
                shown.append(f"and {len(known) - _ACCOUNTS_SHOWN} more")
            raise CommandError(f"unknown account `{target}` "
                               f"(accounts: {', '.join(shown) or 'none yet'})")


def _email_of(session: Session, user: UserRef, caller: Caller) -> str:
    if user.email:
        return user.email
    email = identity.email_for(session, user_id=user.user_id or "")
    if email is None and caller.email_of is not None:
        email = caller.email_of(user.user_id or "")
    if email is None:
        raise CommandError(f"I don't know <@{user.user_id}>'s email yet.")
    return email


def _costs(
    session: Session, *, config: Config, caller: Caller, command: Command, now: datetime
) -> Reply:
    period = period_bounds(command.period or "7d", today=now.date())
    before = previous(period, month_aligned=command.period == "mtd")
    if command.scope == "me":
        where, scope = costs.cost_filter(owner=caller.email), caller.email
    elif command.scope == "team":
        if command.target not in config.teams:
            raise _unknown_team(config, command.target)
        where, scope = costs.cost_filter(team=command.target), f"team {command.target}"
    elif command.scope == "resource":  # one resource: a name two of them have is refused
        res = lifecycle_requests.resource(session, command.target or "")
        where, scope = costs.cost_filter(resource=res.resource_id), f"resource {command.target}"
    else:
        where, scope = costs.cost_filter(account=command.target), f"account {command.target}"
    metric = config.cost_metric
    # a team's or owner's totals and services come from the rollup (thousands of rows, not
    # millions); only the top resources need the daily costs
    rolled = {"me": ("owner", caller.email), "team": ("team", command.target or "")}.get(
        command.scope or "")

    def total(span: Period) -> dict[str, float]:
        if rolled is not None:
            return by_currency((cur, cost) for _, cur, cost in rollup.scope_totals(
                session, dim=rolled[0], key=rolled[1], start=span.start, end=span.end,
                metric=metric))
        rows = costs.totals(session, start=span.start, end=span.end, group_by="provider",
                            metric=metric, where=where)
        return by_currency((row.currency, row.cost) for row in rows)

    now_totals, before_totals = total(period), total(before)
    if not now_totals and not before_totals:  # a typo, or really nothing spent?
        _check_known(session, command)
    changes = {cur: Change(v, before_totals.get(cur, 0.0)) for cur, v in now_totals.items()}

    def top(group_by: str) -> list[Line]:
        if rolled is not None and group_by == "service":
            return [Line(k, cur, cost) for k, cur, cost in rollup.scope_totals(
                session, dim=rolled[0], key=rolled[1], start=period.start, end=period.end,
                metric=metric, by_service=True)]
        if rolled is not None and period.days == 7:  # the last 7 days: the ingest's snapshot
            snapshot = rollup.scope_top_resources(session, dim=rolled[0], key=rolled[1],
                                                  as_of=period.end, metric=metric,
                                                  largest=blocks.TOP_LINES)
            if snapshot is not None:
                return [Line(*row) for row in snapshot]
        rows = costs.totals(session, start=period.start, end=period.end, group_by=group_by,
                            metric=metric, where=where, largest=blocks.TOP_LINES)
        return [Line(r.key, r.currency, r.cost) for r in rows]

    report = CostReport(scope, period, changes, top("service"), _named(session, top("resource")))
    return Reply(*blocks.costs_message(report))


def _named(session: Session, lines: list[Line]) -> list[Line]:
    """Resource lines by the resources' names, as people know them (an AWS ARN or a Google
    Cloud path fills the line); by id where a resource has no name."""
    names = {r.resource_id: r.name for r in resources.summaries(
        session, ids={line.name for line in lines})} if lines else {}
    return [Line(names.get(line.name) or line.name, line.currency, line.cost) for line in lines]


def _resources(session: Session, *, config: Config, caller: Caller, command: Command) -> Reply:
    """Costliest first (the recent-cost snapshot's week), so the list starts with the
    resources worth a look: most of a long list of unowned ones costs next to nothing."""
    metric = config.cost_metric
    if command.scope == "team":
        found = resources.find(session, team=command.target, costliest_first=metric)
        title = f"Team {command.target}"
        if not found and command.target not in config.teams:  # a typo, not an empty team
            raise _unknown_team(config, command.target)
    elif command.scope == "unowned":
        found = resources.find(session, unowned=True, costliest_first=metric)
        title = "Unowned resources"
    else:
        email = caller.email if command.scope == "me" else _email_of(session, command.user, caller)  # type: ignore[arg-type]
        found, title = resources.find(session, owner=email, costliest_first=metric), \
            f"Resources of {email}"
    shown = found[:_LIST_LIMIT]
    costs_to = rollup.snapshot_day(session)
    weeks = rollup.week_costs(session, resource_ids=[r.resource_id for r in shown], metric=metric)
    cost = {rid: blocks_envs.costs_text(dict(pairs)) for rid, pairs in weeks.items()}
    if command.scope == "unowned":  # where each one is, to find whose it is or write a rule
        rows = [(r.name or r.resource_id, "unowned", r.team or "no team",
                 " · ".join(part for part in (r.provider, r.account_name or r.account_id,
                                              r.service) if part),
                 cost.get(r.resource_id, "")) for r in shown]  # fmt: skip
        hint = "`/finops owner R @user` gives one an owner; an owner rule in the config, many."
    else:
        rows = [(r.name or r.resource_id, r.owner or "unowned", r.team or "no team",
                 r.owner_source, cost.get(r.resource_id, "")) for r in shown]  # fmt: skip
        hint = None
    return Reply(*blocks.resources_message(title, rows, total=len(found), hint=hint,
                                           costs_to=costs_to))


def _owner(
    session: Session, *, config: Config, caller: Caller, command: Command, now: datetime
) -> Reply:
    res = lifecycle_requests.resource(session, command.target or "")
    team = config.teams.get(res.team or "")
    allowed = (is_admin(config, caller.email, group_members=caller.group_members)
               or (team is not None and team.manager == caller.email))
    if not allowed and team is not None and team.manager:
        raise CommandError(f"only {who_may(config, res.team)} can reassign this resource.")
    if not allowed:
        why = (f"team {res.team} has no manager" if res.team
               else "it has no team, so no team manager")
        raise CommandError(f"only an admin can reassign this resource: {why}.")
    new_owner = _email_of(session, command.user, caller)  # type: ignore[arg-type]
    before = (res.owner, res.team)
    resources.set_override(
        session,
        resource_id=res.resource_id,
        owner=new_owner,
        team=res.team,
        set_by=caller.email,
        now=now,
    )
    reassign_owners(session, config=config)
    audit.record(
        session,
        actor=caller.email,
        action="owner.set",
        target=res.resource_id,
        now=now,
        origin=caller.origin,
        details={"before": before, "after": (new_owner, res.team)},
    )
    return Reply(
        *blocks.owner_changed_message(res.name or res.resource_id, new_owner, by=caller.email),
        ephemeral=False,
    )


def _anomalies(session: Session, *, config: Config, caller: Caller) -> Reply:
    """Open anomalies of the caller, their teams and their teams' resources, as alerted
    (admins: all open ones)."""
    return Reply(*blocks.list_message("Open cost anomalies", alerts.open_lines_seen_by(
        session, config=config, email=caller.email, group_members=caller.group_members)))


def _digest(session: Session, *, config: Config, caller: Caller, now: datetime) -> Reply:
    """The caller's own digest, now (not recorded as the daily delivery)."""
    built = digests.digest_for(session, config=config, owner=caller.email, now=now)
    if built is None:
        return Reply(*blocks.note_message(
            f"No costs for {caller.email} in the last 35 days: no digest to show."))
    return Reply(*blocks_notify.digest_message(built.digest))
