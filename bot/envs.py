"""Shared environments: book, extend, release, queue, and the `/finops` answers about them.

Every change happens in the caller's transaction: the environment's holder row is taken or
freed with one conditional UPDATE (storage.bookings), the history and the audit log are written,
and a booking event is added to the outbox. The event's effects (channel message, access hooks,
Jira comment, DMs) run after the commit, in bot/envs_effects.py.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session

from bot import admins, blocks_envs, booking, deploys
from bot.admins import GroupMembers
from bot.blocks_envs import EnvView, Message
from bot.booking import Held
from bot.commands import Command
from bot.config import Config
from bot.config_sections import Environment
from bot.errors import CommandError, ProviderError, ResourceGone
from storage import audit, bookings, identity
from storage.models_envs import Booking

if TYPE_CHECKING:
    from providers.jira import TicketClient

log = logging.getLogger(__name__)

ENV_VERBS = ("envs", "env", "book", "release")
JIRA_WAIT = 5.0  # seconds a booking waits for Jira to show its ticket


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, from where (slack, shell, jira, scheduler)."""

    email: str
    user_id: str | None = None
    origin: str = "shell"
    group_members: GroupMembers | None = None  # for admin checks through admin groups


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to a booking request; ``ok`` False: nothing changed (busy, already queued)."""

    ok: bool
    message: Message


def handles(config: Config, command: Command) -> bool:
    """True for the environment verbs, and `extend` when it names an environment."""
    if command.verb in ENV_VERBS:
        return True
    return command.verb == "extend" and config.environment(command.target or "") is not None


def environment(config: Config, name: str | None) -> Environment:
    env = config.environment(name or "")
    if env is None:
        known = ", ".join(e.name for e in config.environments) or "none configured"
        raise CommandError(f"unknown environment `{name}` (environments: {known})")
    return env


def channel_of(config: Config, env: Environment) -> str | None:
    """The environment's channel, else its team's channel."""
    if env.slack_channel:
        return env.slack_channel
    team = config.teams.get(env.team or "")
    return team.slack_channel if team is not None else None


def current(session: Session, env: str, *, now: datetime,
          include_ended: bool = False) -> Held | None:
    row = bookings.state(session, env=env)
    if row is None or row.booking_id is None or row.until is None:
        return None
    if row.until <= now and not include_ended:
        return None  # ended; the next sweep (or the next booking) closes it
    found = bookings.get_booking(session, booking_id=row.booking_id)
    if found is None:
        return None
    return held_of(found, until=row.until)


@dataclass(frozen=True, slots=True)
class HomeEnvs:
    """Shared environments in one person's App Home."""

    held: list[EnvView]  # theirs
    waiting: list[str]  # a line per one they wait for ("waiting for `qa`: 1st in line")
    others: list[EnvView]  # the rest, as they see them (no buttons where they may not book)


def home_envs(session: Session, config: Config, email: str, *, now: datetime) -> HomeEnvs:
    """The environments ``email`` holds, waits for, and the others."""
    out = HomeEnvs([], [], [])
    actor = Actor(email=email)
    for env in config.environments:
        shown = view(session, config, env, now=now, with_costs=False)
        if shown.held is not None and shown.held.holder.lower() == email.lower():
            out.held.append(shown)
            continue
        line = [q.email.lower() for q in bookings.queue(session, env=env.name)]
        if email.lower() in line:
            place = line.index(email.lower()) + 1
            out.waiting.append(f"waiting for `{env.name}`: {_ordinal(place)} in line")
        out.others.append(_for(actor, config, env, shown))
    return out


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def held_of(found: Booking, *, until: datetime | None = None) -> Held:
    return Held(booking_id=found.id, env=found.env, holder=found.holder,
                started_at=found.started_at, until=until or found.until, ticket=found.ticket,
                holder_user_id=found.holder_user_id)


def _mention(session: Session, email: str, user_id: str | None) -> str:
    if user_id is None:
        cached = identity.get_cached(session, email=email)
        user_id = cached.user_id if cached is not None else None
    return f"<@{user_id}>" if user_id else email


def rate_of(session: Session, config: Config, env: Environment, *,
            now: datetime) -> dict[str, float]:
    daily = env_costs(session, config, env, start=now - timedelta(days=booking.RATE_DAYS + 1),
                      end=now)
    return booking.daily_rate(daily, today=now.date())


def env_costs(session: Session, config: Config, env: Environment, *, start: datetime,
              end: datetime) -> dict[str, dict[date, float]]:
    ids = bookings.resource_ids(session, ids=env.resources, tag_selector=env.tag_selector)
    return bookings.daily_costs(session, resource_ids=ids, start=start.date(), end=end.date(),
                                metric=config.cost_metric)


def view(session: Session, config: Config, env: Environment, *, now: datetime,
         held: Held | None = None, with_costs: bool = True) -> EnvView:
    held = held if held is not None else current(session, env.name, now=now)
    waiting = [_mention(session, q.email, q.user_id)
               for q in bookings.queue(session, env=env.name)]
    resources = bookings.resource_ids(session, ids=env.resources, tag_selector=env.tag_selector)
    rate = rate_of(session, config, env, now=now) if with_costs else {}
    return EnvView(name=env.name, team=env.team, held=held, queue=waiting, rate=rate,
                   resources=len(resources), max_booking=env.max_booking)


# --- operations ---------------------------------------------------------------------------


def book(session: Session, *, config: Config, env: Environment, until: datetime,
         ticket: str | None, actor: Actor, now: datetime) -> Outcome:
    """Take ``env`` from now until ``until``; exactly one of any concurrent callers wins."""
    booking.check_may_book(config, env, actor.email, group_members=actor.group_members)
    booking.booking_end(env, until, now=now)
    bookings.ensure_state(session, env=env.name)
    row = bookings.state(session, env=env.name)
    previous = row.booking_id if row is not None else None
    held = current(session, env.name, now=now)
    if held is not None:
        if held.holder.lower() == actor.email.lower():
            raise CommandError(f"you already have {env.name} until "
                               f"{blocks_envs.when(held.until)}; use `extend {env.name} 1d`")
        return Outcome(False, blocks_envs.busy_message(view(session, config, env, now=now,
                                                            with_costs=False)))
    new_id = str(uuid.uuid4())
    if not bookings.claim(session, env=env.name, booking_id=new_id, holder=actor.email,
                          until=until, previous=previous, now=now):
        # another request took it between our read and our claim
        return Outcome(False, blocks_envs.busy_message(view(session, config, env, now=now,
                                                            with_costs=False)))
    if previous is not None:
        _close_ended(session, config=config, env=env, booking_id=previous, now=now)
    rate = rate_of(session, config, env, now=now)
    expected = booking.expected_cost(rate, now, until)
    bookings.add_booking(session, Booking(
        id=new_id, env=env.name, holder=actor.email, holder_user_id=actor.user_id,
        ticket=ticket, origin=actor.origin, started_at=now, until=until,
        expected_cost=json.dumps(expected, sort_keys=True)))
    bookings.dequeue(session, env=env.name, email=actor.email)
    details = {"booking_id": new_id, "until": until, "ticket": ticket, "expected_cost": expected}
    audit.record(session, actor=actor.email, action="booking.acquire", target=f"env:{env.name}",
                 now=now, origin=actor.origin, details=details)
    bookings.add_event(session, booking_id=new_id, env=env.name, kind="acquire", at=now,
                       actor=actor.email, origin=actor.origin, details=details)
    held = Held(new_id, env.name, actor.email, now, until, ticket, actor.user_id)
    return Outcome(True, blocks_envs.booked_message(
        view(session, config, env, now=now, held=held, with_costs=False), expected))


def check_linkable(tickets: TicketClient | None, env: Environment, ticket: str | None, *,
                   within: float | None = None) -> None:
    """CommandError when ``ticket`` cannot be linked to a booking of ``env``: Jira does not
    show it, or it is in a status that releases ``env`` (the tickets job would release the
    booking at once). Without Jira, or when it does not answer within ``within`` seconds (a
    Jira that hangs takes its read timeouts and retries), the booking goes ahead unchecked;
    its comment step reports a failure to the holder. Called before the booking's transaction:
    no database connection waits on Jira."""
    if tickets is None or ticket is None:
        return
    within = JIRA_WAIT if within is None else within
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jira-check")
    asked = pool.submit(tickets.status, ticket)
    pool.shutdown(wait=False)  # a late answer is dropped, not waited for
    try:
        status, category = asked.result(timeout=within)
    except TimeoutError:
        log.warning("booking %s for %s without checking the ticket: Jira did not answer "
                    "within %g s", env.name, ticket, within)
        return
    except ResourceGone:
        raise CommandError(f"{ticket} is not in Jira, or I may not see it; check the key") \
            from None
    except ProviderError as exc:
        log.warning("booking %s for %s without checking the ticket: %s", env.name, ticket, exc)
        return
    if booking.releases_on(env, status, category):
        raise CommandError(f"{ticket} is already {status}, which releases {env.name}; "
                           "link a ticket that is still open, or none")


def _close_ended(session: Session, *, config: Config, env: Environment, booking_id: str,
                 now: datetime) -> None:
    """Close a booking whose time ran out before the sweep freed it (a new booking took over)."""
    ended = bookings.get_booking(session, booking_id=booking_id)
    if ended is None or ended.ended_at is not None:
        return
    _finish(session, config=config, env=env, found=ended, ended_at=ended.until,
            by="scheduler", reason="expired", origin="scheduler", now=now)


def _finish(session: Session, *, config: Config, env: Environment, found: Booking,
            ended_at: datetime, by: str, reason: str, origin: str,
            now: datetime) -> tuple[dict[str, float], int]:
    """Write the end of a booking: history with its actual cost, audit, release event."""
    rate = rate_of(session, config, env, now=now)
    daily = env_costs(session, config, env, start=found.started_at, end=ended_at)
    actual, estimated = booking.actual_cost(daily, rate, found.started_at, ended_at)
    bookings.close_booking(session, booking_id=found.id, ended_at=ended_at, ended_by=by,
                           reason=reason, actual_cost=actual)
    details = {"booking_id": found.id, "holder": found.holder, "reason": reason,
               "ended_at": ended_at, "actual_cost": actual, "estimated_days": estimated,
               "ticket": found.ticket}
    audit.record(session, actor=by, action="booking.release", target=f"env:{env.name}",
                 now=now, origin=origin, details=details)
    bookings.add_event(session, booking_id=found.id, env=env.name, kind="release", at=now,
                       actor=by, origin=origin, details=details)
    return actual, estimated


def release(session: Session, *, config: Config, env: Environment, actor: Actor,
            now: datetime, reason: str = "released") -> Outcome:
    """Free ``env``: the holder, an admin, or (reason ``jira``) a closed linked ticket."""
    held = current(session, env.name, now=now, include_ended=True)
    if held is None:
        raise CommandError(f"{env.name} is not booked")
    if reason == "released":
        booking.check_may_manage(config, env, held, actor.email, "release",
                                 group_members=actor.group_members)
    if not bookings.free(session, env=env.name, booking_id=held.booking_id):
        raise CommandError(f"{env.name} was released a moment ago")
    found = bookings.get_booking(session, booking_id=held.booking_id)
    assert found is not None
    ended_at = min(now, held.until)
    actual, estimated = _finish(session, config=config, env=env, found=found, ended_at=ended_at,
                                by=actor.email, reason=reason, origin=actor.origin, now=now)
    return Outcome(True, blocks_envs.released_message(
        view(session, config, env, now=now, with_costs=False), held, by=actor.email,
        reason=reason, ended=ended_at, actual=actual, estimated_days=estimated))


def extend(session: Session, *, config: Config, env: Environment, text: str, actor: Actor,
           now: datetime) -> Outcome:
    """Move the end of the current booking: from its current end, within the max, and only
    while nobody is waiting."""
    held = current(session, env.name, now=now)
    if held is None:
        hint = (f"; book it with `book {env.name} 1d`" if booking.may_book(
            config, env, actor.email, group_members=actor.group_members) else "")
        raise CommandError(f"{env.name} is not booked{hint}")
    booking.check_may_manage(config, env, held, actor.email, "extend",
                             group_members=actor.group_members)
    booking.check_nobody_waiting(env, held,
                                 [q.email for q in bookings.queue(session, env=env.name)])
    new_until = booking.extension_end(env, held, text, now=now)
    if not bookings.move_end(session, env=env.name, booking_id=held.booking_id,
                             until=held.until, new_until=new_until, now=now):
        raise CommandError(f"{env.name} changed a moment ago; look at `env {env.name}` and retry")
    extra = booking.expected_cost(rate_of(session, config, env, now=now), held.until, new_until)
    details = {"booking_id": held.booking_id, "from": held.until, "until": new_until,
               "expected_extra_cost": extra, "ticket": held.ticket}
    audit.record(session, actor=actor.email, action="booking.extend", target=f"env:{env.name}",
                 now=now, origin=actor.origin, details=details)
    bookings.add_event(session, booking_id=held.booking_id, env=env.name, kind="extend", at=now,
                       actor=actor.email, origin=actor.origin, details=details)
    moved = Held(held.booking_id, env.name, held.holder, held.started_at, new_until,
                 held.ticket, held.holder_user_id)
    return Outcome(True, blocks_envs.extended_message(
        view(session, config, env, now=now, held=moved, with_costs=False), held.until, extra))


def join_queue(session: Session, *, config: Config, env: Environment, actor: Actor,
               now: datetime) -> Outcome:
    """"Notify me when free": join the line (refused while the environment is free)."""
    booking.check_may_book(config, env, actor.email, group_members=actor.group_members)
    held = current(session, env.name, now=now)
    if held is None:
        return Outcome(False, blocks_envs.freed_for_you_message(
            view(session, config, env, now=now, with_costs=False)))
    if held.holder.lower() == actor.email.lower():
        raise CommandError(f"you hold {env.name} yourself")
    if not bookings.enqueue(session, env=env.name, email=actor.email, user_id=actor.user_id,
                            now=now):
        raise CommandError(f"you are already in line for {env.name}")
    audit.record(session, actor=actor.email, action="booking.queue", target=f"env:{env.name}",
                 now=now, origin=actor.origin, details={"holder": held.holder})
    position = [q.email for q in bookings.queue(session, env=env.name)].index(actor.email) + 1
    return Outcome(True, blocks_envs.queued_message(
        view(session, config, env, now=now, with_costs=False), position))


def release_ended(session: Session, *, config: Config, env: Environment, now: datetime) -> bool:
    """The automatic release at the end; never releases a booking extended meanwhile."""
    row = bookings.state(session, env=env.name)
    if row is None or row.booking_id is None or row.until is None or row.until > now:
        return False
    booking_id, until = row.booking_id, row.until  # the UPDATE below refreshes ``row``
    if not bookings.free(session, env=env.name, booking_id=booking_id, until=until, now=now):
        return False
    found = bookings.get_booking(session, booking_id=booking_id)
    if found is not None:
        _finish(session, config=config, env=env, found=found, ended_at=until,
                by="scheduler", reason="expired", origin="scheduler", now=now)
    return True


def release_for_ticket(session: Session, *, config: Config, ticket: str, status: str | None,
                       category: str | None, deleted: bool, actor: Actor,
                       now: datetime) -> list[str]:
    """Release the bookings linked to ``ticket`` when it was deleted or moved to a status that
    releases (per environment); returns the environments released."""
    released: list[str] = []
    for linked in bookings.open_for_ticket(session, ticket=ticket):
        env = config.environment(linked.env)
        if env is None:
            continue
        if not deleted and not booking.releases_on(env, status or "", category):
            continue
        if not bookings.free(session, env=env.name, booking_id=linked.id):
            continue
        _finish(session, config=config, env=env, found=linked, ended_at=min(now, linked.until),
                by=actor.email, reason="jira", origin=actor.origin, now=now)
        released.append(env.name)
    return released


# --- `/finops` answers -----------------------------------------------------------------


def _for(actor: Actor, config: Config, env: Environment, shown: EnvView) -> EnvView:
    """``shown`` as ``actor`` sees it: without buttons if they may not book ``env``; without
    "Notify me when free" if they hold it."""
    if not booking.may_book(config, env, actor.email, group_members=actor.group_members):
        return dataclasses.replace(shown, only_for=", ".join(env.bookers))
    held = shown.held
    return dataclasses.replace(shown, yours=held is not None
                               and held.holder.lower() == actor.email.lower())


def answer(session: Session, *, config: Config, command: Command, actor: Actor,
           now: datetime, tickets: TicketClient | None = None) -> Message:
    """The reply to an environment command; CommandError for bad input (nothing changes)."""
    if command.verb == "envs":
        shown = admins.is_admin(config, actor.email, group_members=actor.group_members)
        unknown = deploys.unknown_environments(session) if shown else []
        return blocks_envs.envs_message([_for(actor, config, env, view(
            session, config, env, now=now, with_costs=False)) for env in config.environments],
            unknown)
    env = environment(config, command.target)
    if command.verb == "env":
        return blocks_envs.env_message(_for(actor, config, env, deploys.with_deploys(
            session, config, view(session, config, env, now=now))))
    if command.verb == "book":
        # who may book comes first: no point in fixing a duration one may not book for
        booking.check_may_book(config, env, actor.email, group_members=actor.group_members)
        until = booking.end_from_text(env, command.duration or "", now=now)
        ticket = booking.check_ticket(command.ticket)
        check_linkable(tickets, env, ticket)
        return book(session, config=config, env=env, until=until, ticket=ticket, actor=actor,
                    now=now).message
    if command.verb == "release":
        return release(session, config=config, env=env, actor=actor, now=now).message
    return extend(session, config=config, env=env, text=command.duration or "", actor=actor,
                  now=now).message
