"""What follows a booking change, after its commit: messages, access hooks, Jira comments.

Each booking event (the outbox written by bot/envs.py) has steps; each step is claimed with
``claim_delivery`` before it runs, so two replicas, a retry or the scheduler's sweep never do it
twice. Events of one booking run in order (a revoke never overtakes its grant). The ``bookings``
job also releases ended bookings, reminds holders before the end and tells the next person in
line when an environment is free (keeping them first in line until told); the ``tickets`` job
releases bookings whose Jira ticket was closed without the webhook telling us, and posts the
Jira comments Jira did not take at the time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot import blocks_envs, booking, envs
from bot.blocks_envs import Message
from bot.booking import Held, span_text
from bot.config_sections import Environment
from bot.errors import ProviderError, ProviderThrottled, ProviderUnavailable, ResourceGone
from bot.identity import resolve_slack_ids
from bot.services import Services
from providers.hooks import HookResult, run_hook
from storage import audit, bookings
from storage.claims import claim_delivery, mark_sent, queue_delivery, release_claim, unsent
from storage.db import session_scope
from storage.models_envs import Booking, BookingEvent

STEP = "booking-step"
REMINDER = "booking-reminder"
FREED = "booking-freed"  # the head of an environment's queue told it is free
LATE_COMMENT = "jira-comment"  # a comment Jira did not take, posted by the ``tickets`` job
LATE_COMMENT_DAYS = 7  # after this, a comment Jira still does not take is given up


def _user_id(services: Services, email: str, known: str | None) -> str | None:
    if known:
        return known
    with session_scope(services.engine) as session:
        return resolve_slack_ids(session, services.chat, [email], now=services.now()).get(email)


def _dm(services: Services, email: str, known: str | None, message: Message) -> str:
    user_id = _user_id(services, email, known)
    if user_id is None:
        return f"no chat user for {email}"
    services.chat.dm(user_id, *message)
    return "sent"


def _audit(services: Services, action: str, env: str, details: dict[str, Any],
           actor: str = "finops-bot", origin: str = "bot") -> None:
    with session_scope(services.engine) as session:
        audit.record(session, actor=actor, action=action, target=f"env:{env}",
                     now=services.now(), origin=origin, details=details)


def _guarded(call: Callable[[], str | None]) -> str:
    """A step's outcome; a provider failure is an outcome too (recorded, not retried)."""
    try:
        return call() or ""
    except ProviderError as exc:
        return f"failed: {exc}"


class _Event:
    """One outbox event with what its steps need."""

    def __init__(self, services: Services, row: BookingEvent, env: Environment,
                 found: Booking) -> None:
        self.services, self.row, self.env, self.found = services, row, env, found
        self.details: dict[str, Any] = json.loads(row.details or "{}")
        until = self.details.get("until")
        self.held = envs.held_of(found, until=datetime.fromisoformat(until) if until else None)

    def view(self, held: Held | None) -> blocks_envs.EnvView:
        with session_scope(self.services.engine) as session:
            return envs.view(session, self.services.config, self.env, now=self.services.now(),
                             held=held, with_costs=False)

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        kind = self.row.kind
        out: list[tuple[str, Callable[[], str]]] = []
        if kind in ("acquire", "release"):
            out.append(("channel", self.channel))
        out += [("hooks", self.hooks), ("jira", self.jira)]
        if kind == "release":
            out += [("holder", self.tell_holder), ("queue", self.tell_next)]
        return out

    def channel(self) -> str:
        channel = envs.channel_of(self.services.config, self.env)
        if channel is None:
            return "no channel"
        if self.row.kind == "acquire":
            message = blocks_envs.acquired_message(self.view(self.held),
                                                   self.details.get("expected_cost", {}))
        else:
            message = self._released()
        self.services.chat.post(channel, *message)
        return "sent"

    def _released(self) -> Message:
        with session_scope(self.services.engine) as session:
            current = envs.view(session, self.services.config, self.env,
                                now=self.services.now(), with_costs=False)
        ended = datetime.fromisoformat(self.details["ended_at"])
        return blocks_envs.released_message(
            current, self.held, by=self.row.actor, reason=self.details.get("reason", "released"),
            ended=ended, actual=self.details.get("actual_cost", {}),
            estimated_days=int(self.details.get("estimated_days", 0)))

    def hooks(self) -> str:
        kind = self.row.kind
        results: list[HookResult] = []
        for index, hook in enumerate(self.env.hooks):
            if kind not in hook.events:
                continue
            result = run_hook(hook, event=kind, delivery=f"{self.row.id}-{index}",
                              payload=self._payload(), variables=self._variables(),
                              secrets=self.services.hook_secrets)
            _audit(self.services, "booking.hook", self.env.name,
                   {"booking_id": self.found.id, **result.audit()})
            results.append(result)
        failures = [r.summary() for r in results if not r.ok]
        if failures:
            self._hook_failed(failures)
        return f"{len(results) - len(failures)} ok, {len(failures)} failed"

    def _hook_failed(self, failures: list[str]) -> None:
        """A failed grant goes to the holder; a failed revoke is escalated to the team."""
        kind = self.row.kind
        if kind != "release":
            _guarded(lambda: _dm(self.services, self.found.holder,
                                     self.found.holder_user_id,
                                     blocks_envs.hook_failed_message(self.env.name, kind,
                                                                     failures)))
            return
        team = self.services.config.teams.get(self.env.team or "")
        channel = (team.slack_channel if team is not None and team.slack_channel
                   else envs.channel_of(self.services.config, self.env))
        mention = team.manager if team is not None else None
        if mention:
            try:
                uid = _user_id(self.services, mention, None)
            except ProviderError:
                uid = None
            mention = f"<@{uid}>" if uid else mention
        message = blocks_envs.hook_failed_message(self.env.name, kind, failures,
                                                  mention=mention or "team")
        if channel:
            _guarded(lambda: self.services.chat.post(channel, *message))

    def _payload(self) -> dict[str, Any]:
        b = self.found
        return {
            "event": self.row.kind, "sent_at": self.services.now().isoformat(),
            "environment": {"name": self.env.name, "team": self.env.team,
                            "resources": self.env.resources,
                            "tag_selector": self.env.tag_selector},
            "booking": {"id": b.id, "holder": b.holder, "holder_slack_id": b.holder_user_id,
                        "ticket": b.ticket, "started_at": b.started_at.isoformat(),
                        "until": self.held.until.isoformat(),
                        "ended_at": self.details.get("ended_at"),
                        "reason": self.details.get("reason")},
        }

    def _variables(self) -> dict[str, str]:
        b = self.found
        return {
            "FINOPS_EVENT": self.row.kind, "FINOPS_ENV": self.env.name,
            "FINOPS_TEAM": self.env.team or "", "FINOPS_BOOKING_ID": b.id,
            "FINOPS_HOLDER": b.holder, "FINOPS_HOLDER_SLACK_ID": b.holder_user_id or "",
            "FINOPS_TICKET": b.ticket or "", "FINOPS_STARTED_AT": b.started_at.isoformat(),
            "FINOPS_UNTIL": self.held.until.isoformat(),
            "FINOPS_RESOURCES": ",".join(self.env.resources),
            "FINOPS_TAG_SELECTOR": ",".join(f"{k}={v}" for k, v in
                                            sorted(self.env.tag_selector.items())),
        }

    def jira(self) -> str:
        ticket, client = self.found.ticket, self.services.jira
        if ticket is None:
            return "no ticket"
        if client is None:
            return "jira not configured"
        if self._comment_waiting():  # Jira shows a booking's comments in the order they came
            self._queue_comment(ticket)
            return "queued behind an earlier comment"
        text = self.comment()
        try:
            comment_id = client.add_comment(ticket, text)
        except (ProviderUnavailable, ProviderThrottled) as exc:  # not taken: post it later
            self._queue_comment(ticket)
            _audit(self.services, "booking.jira", self.env.name,
                   {"booking_id": self.found.id, "ticket": ticket, "ok": False,
                    "error": str(exc), "retry": True})
            return f"queued: {exc}"
        except ProviderError as exc:
            error = str(exc)
            _audit(self.services, "booking.jira", self.env.name,
                   {"booking_id": self.found.id, "ticket": ticket, "ok": False,
                    "error": error})
            if self.row.kind == "acquire":
                notice = blocks_envs.notice_message(f"I could not comment on {ticket}: {error}")
                _guarded(lambda: _dm(self.services, self.found.holder,
                                         self.found.holder_user_id, notice))
            return f"failed: {error}"
        _audit(self.services, "booking.jira", self.env.name,
               {"booking_id": self.found.id, "ticket": ticket, "ok": True,
                "comment_id": comment_id, "kind": self.row.kind})
        return "sent"

    def _comment_scope(self) -> str:
        return f"booking:{self.found.id}:event:{self.row.id}"

    def _comment_waiting(self) -> bool:
        prefix = f"booking:{self.found.id}:"
        with session_scope(self.services.engine) as session:
            return any(scope.startswith(prefix)
                       for scope, _ in unsent(session, kind=LATE_COMMENT, period_from=""))

    def _queue_comment(self, ticket: str) -> None:
        with session_scope(self.services.engine) as session:
            queue_delivery(session, kind=LATE_COMMENT, scope=self._comment_scope(),
                           period=ticket)

    def comment(self, *, late: bool = False) -> str:
        """The Jira comment on this event; ``late`` says when it happened, as it is posted
        after Jira was back."""
        name, held, d = self.env.name, self.held, self.details
        sign = (f"(finops-bot, posted late: Jira did not answer at "
                f"{blocks_envs.when(self.row.at)})" if late else "(finops-bot)")
        if self.row.kind == "acquire":
            return (f"{name} booked by {held.holder} until {blocks_envs.when(held.until)} "
                    f"({span_text(held.until - held.started_at)}, expected cost "
                    f"{blocks_envs.costs_text(d.get('expected_cost', {}))}). {sign}")
        if self.row.kind == "extend":
            return (f"{name} booking extended by {self.row.actor} until "
                    f"{blocks_envs.when(held.until)}. {sign}")
        ended = datetime.fromisoformat(d["ended_at"])
        return (f"{name} released ({d.get('reason', 'released')}, by {self.row.actor}) after "
                f"{span_text(ended - held.started_at)}; cost "
                f"{blocks_envs.costs_text(d.get('actual_cost', {}))}. {sign}")

    def tell_holder(self) -> str:
        if self.row.actor.lower() == self.found.holder.lower():
            return "released by the holder"
        return _dm(self.services, self.found.holder, self.found.holder_user_id,
                   self._released())

    def tell_next(self) -> str:
        return tell_next_in_line(self.services, self.env)


def tell_next_in_line(services: Services, env: Environment) -> str:
    """If ``env`` is free, tell the head of its queue, and take them off it once told.

    A DM that fails leaves them at the head, and raises: the next run of the ``bookings`` job
    (every minute) tells them. The claim keeps two runs from both telling them; only a crash
    between the DM and its record could (after the claim's lease)."""
    now = services.now()
    with session_scope(services.engine) as session:
        row = bookings.state(session, env=env.name)
        if row is not None and row.booking_id is not None:
            return "taken again"
        waiting = bookings.queue(session, env=env.name)
        if not waiting:
            return "nobody waiting"
        head = waiting[0]
        # the time they joined tells this wait from a later one of the same person
        scope, period = f"{env.name}:{head.email}", head.created_at.isoformat()
        if not claim_delivery(session, kind=FREED, scope=scope, period=period,
                              worker=services.worker, now=now):
            return "being told"
        message = blocks_envs.freed_for_you_message(
            envs.view(session, services.config, env, now=now, with_costs=False))
    try:
        outcome = _dm(services, head.email, head.user_id, message)
    except ProviderError:
        with session_scope(services.engine) as session:
            release_claim(session, kind=FREED, scope=scope, period=period)
        raise
    with session_scope(services.engine) as session:
        bookings.leave_queue(session, queue_id=head.id or 0)
        mark_sent(session, kind=FREED, scope=scope, period=period, now=now,
                  outcome=outcome[:64])
        audit.record(session, actor="finops-bot", action="booking.notify",
                     target=f"env:{env.name}", now=now, origin="scheduler",
                     details={"told": head.email, "outcome": outcome})
    return outcome


def _process(services: Services, row: BookingEvent) -> bool:
    """Run the event's steps not yet claimed; True when all of them are done."""
    env = services.config.environment(row.env)
    with session_scope(services.engine) as session:
        found = bookings.get_booking(session, booking_id=row.booking_id)
    complete = True
    if env is not None and found is not None:
        event = _Event(services, row, env, found)
        for step, run in event.steps():
            with session_scope(services.engine) as session:
                claimed = claim_delivery(session, kind=STEP, scope=f"event:{row.id}",
                                         period=step, worker=services.worker,
                                         now=services.now())
            if not claimed:
                complete = complete and _sent(services, row.id or 0, step)
                continue
            outcome = _guarded(run)
            with session_scope(services.engine) as session:
                mark_sent(session, kind=STEP, scope=f"event:{row.id}", period=step,
                          now=services.now(), outcome=outcome[:64])
    if complete:
        with session_scope(services.engine) as session:
            bookings.mark_processed(session, event_id=row.id or 0, now=services.now())
    return complete


def _sent(services: Services, event_id: int, step: str) -> bool:
    with session_scope(services.engine) as session:
        return bookings.step_sent(session, kind=STEP, scope=f"event:{event_id}", period=step)


def run_effects(services: Services, *, limit: int = 200) -> int:
    """Run the pending booking events' effects, oldest first; returns the events completed."""
    with session_scope(services.engine) as session:
        pending = bookings.pending_events(session, limit=limit)
    blocked: set[str] = set()
    done = 0
    for row in pending:
        if row.booking_id in blocked:
            continue
        if _process(services, row):
            done += 1
        else:
            blocked.add(row.booking_id)  # a step is in flight elsewhere: keep the order
    return done


def run_bookings(services: Services) -> str:
    """The ``bookings`` job: release ended bookings, remind holders, tell the next in line,
    and run pending effects."""
    now = services.now()
    config = services.config
    released = reminded = told = 0
    for env in config.environments:
        with session_scope(services.engine) as session:
            released += envs.release_ended(session, config=config, env=env, now=now)
    failed: list[str] = []  # each is tried again by a later run
    for env in config.environments:
        try:
            reminded += _remind(services, env, now=now)
        except ProviderError as exc:
            failed.append(f"reminder for {env.name}: {exc}")
        try:
            told += tell_next_in_line(services, env) == "sent"
        except ProviderError as exc:  # still first in line: the next run tells them
            failed.append(f"telling the next in line for {env.name}: {exc}")
    effects = run_effects(services)
    done = (f"{released} released, {reminded} reminders, {told} told it is free, "
            f"{effects} events processed")
    if failed:
        raise ProviderError(f"{done}; not sent: {'; '.join(failed)}")
    return done


def run_tickets(services: Services) -> str:
    """The ``tickets`` job: ask Jira for the status of each ticket an open booking links to,
    and release the bookings whose ticket is in a status that releases them. The webhook does
    this as it happens; this catches the transitions it missed (the bot was down, or no
    webhook is set up). A ticket Jira does not show is left alone: a 404 is also what a lost
    permission looks like, and the webhook reports deletions. The first failure ends the
    round, so an unreachable Jira costs one call's retries a run, in a job of its own: the
    ``bookings`` job's reminders and releases never wait for Jira's answers."""
    client = services.jira
    if client is None:
        return "Jira is not configured"
    late = post_late_comments(services)  # first: a booking's comments stay in their order
    now = services.now()
    with session_scope(services.engine) as session:
        # an environment taken out of the config keeps its bookings, but nothing releases them
        linked = bookings.open_tickets(
            session, envs=[env.name for env in services.config.environments])
    released = 0
    failed: ProviderError | None = None
    actor = envs.Actor(email="jira", origin="jira")
    for ticket in linked:
        try:
            status, category = client.status(ticket)
        except ResourceGone:
            continue
        except ProviderError as exc:
            failed = exc
            break
        with session_scope(services.engine) as session:
            released += len(envs.release_for_ticket(
                session, config=services.config, ticket=ticket, status=status,
                category=category, deleted=False, actor=actor, now=now))
    effects = run_effects(services) if released else 0
    if failed is not None:  # the job fails, in the log and the metrics; the next run retries
        raise ProviderError(f"{released} released, then checking {ticket} stopped the "
                            f"round: {failed}") from failed
    return (f"{len(linked)} linked tickets, {released} released, {effects} events processed, "
            f"{late} late comments posted")


def post_late_comments(services: Services) -> int:
    """Post the Jira comments Jira did not take when their event happened, oldest first;
    returns how many were posted. One Jira again does not take ends the round (raised: the
    ``tickets`` job fails, and its next run tries again). One older than ``LATE_COMMENT_DAYS``
    is given up, and its booking's holder told."""
    client = services.jira
    if client is None:
        return 0
    now = services.now()
    with session_scope(services.engine) as session:
        pending = unsent(session, kind=LATE_COMMENT, period_from="")
    posted = 0
    for scope, ticket in pending:
        event_id = int(scope.rpartition(":")[2])
        with session_scope(services.engine) as session:
            row = session.get(BookingEvent, event_id)
            found = bookings.get_booking(session, booking_id=row.booking_id) if row else None
        env = services.config.environment(row.env) if row is not None else None
        if row is None or found is None or env is None:  # the environment left the config
            with session_scope(services.engine) as session:
                mark_sent(session, kind=LATE_COMMENT, scope=scope, period=ticket, now=now,
                          outcome="skipped: no such environment")
            continue
        event = _Event(services, row, env, found)
        if now - row.at > timedelta(days=LATE_COMMENT_DAYS):
            _give_up_comment(event, scope=scope, ticket=ticket)
            continue
        with session_scope(services.engine) as session:
            if not claim_delivery(session, kind=LATE_COMMENT, scope=scope, period=ticket,
                                  worker=services.worker, now=now):
                continue
        try:
            comment_id = client.add_comment(ticket, event.comment(late=True))
        except (ProviderUnavailable, ProviderThrottled) as exc:
            with session_scope(services.engine) as session:
                release_claim(session, kind=LATE_COMMENT, scope=scope, period=ticket)
            raise ProviderError(f"{posted} late comments posted, then {ticket}: {exc}") from exc
        except ProviderError as exc:
            outcome, details = f"failed: {exc}", {"ok": False, "error": str(exc)}
        else:
            outcome, details = "sent", {"ok": True, "comment_id": comment_id, "late": True}
            posted += 1
        with session_scope(services.engine) as session:
            mark_sent(session, kind=LATE_COMMENT, scope=scope, period=ticket, now=now,
                      outcome=outcome[:64])
        _audit(services, "booking.jira", env.name,
               {"booking_id": found.id, "ticket": ticket, "kind": row.kind, **details})
    return posted


def _give_up_comment(event: _Event, *, scope: str, ticket: str) -> None:
    services, found = event.services, event.found
    with session_scope(services.engine) as session:
        mark_sent(session, kind=LATE_COMMENT, scope=scope, period=ticket, now=services.now(),
                  outcome=f"gave up after {LATE_COMMENT_DAYS} days")
    _audit(services, "booking.jira", event.env.name,
           {"booking_id": found.id, "ticket": ticket, "ok": False,
            "error": f"Jira did not take the comment for {LATE_COMMENT_DAYS} days"})
    notice = blocks_envs.notice_message(
        f"I could not comment on {ticket}: Jira did not take my comment for "
        f"{LATE_COMMENT_DAYS} days. It said: {event.comment()}")
    _guarded(lambda: _dm(services, found.holder, found.holder_user_id, notice))


def _remind(services: Services, env: Environment, *, now: datetime) -> bool:
    with session_scope(services.engine) as session:
        held = envs.current(session, env.name, now=now)
        if held is None or not booking.reminder_due(env, held, now=now):
            return False
        if not claim_delivery(session, kind=REMINDER, scope=held.booking_id,
                              period=held.until.isoformat(), worker=services.worker, now=now):
            return False
        message = blocks_envs.reminder_message(
            envs.view(session, services.config, env, now=now, held=held, with_costs=False),
            now=now)
    # a DM that fails raises and leaves the claim unsent: a run after its lease (ten minutes)
    # tries again, while the reminder is still due
    outcome = _dm(services, held.holder, held.holder_user_id, message)
    with session_scope(services.engine) as session:
        mark_sent(session, kind=REMINDER, scope=held.booking_id, period=held.until.isoformat(),
                  now=now, outcome=outcome[:64])
    return outcome == "sent"
