"""Booking rules for shared environments: pure functions of (config, booking, now).

Durations are checked against the environment's ``max_booking`` (the whole booking, from its
start to its end); an extension counts from the current end and never shortens a booking. Who
may book: the environment's ``bookers`` (emails or team names; empty: anyone) and the admins.
Who may release or extend: the holder, the admins and the manager of the environment's team.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from bot import admins
from bot.admins import GroupMembers, who_may
from bot.config import Config
from bot.config_sections import Environment
from bot.durations import parse_span, parse_until
from bot.errors import CommandError

TICKET_KEY = re.compile(r"^[A-Z][A-Z0-9_]+-[0-9]+$")  # ASCII digits only
DEFAULT_RELEASE_STATUSES = ("done", "closed", "resolved")
RATE_DAYS = 7  # the daily rate is the average of the last complete week of cost data


@dataclass(frozen=True, slots=True)
class Held:
    """The current booking of an environment, as the rules need it."""

    booking_id: str
    env: str
    holder: str
    started_at: datetime
    until: datetime
    ticket: str | None = None
    holder_user_id: str | None = None


def span_text(span: timedelta) -> str:
    """``3d 4h``, ``2h 30m``, ``45m``: the two largest units, rounded down to minutes."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (mins, "m")) if n]
    return " ".join(parts[:2]) or "0m"


def max_span(env: Environment) -> timedelta:
    return parse_span(env.max_booking)


def reminder_lead(env: Environment) -> timedelta:
    return parse_span(env.remind_before)


def check_ticket(text: str | None) -> str | None:
    """A Jira issue key (``OPS-123``) or None; anything else is refused."""
    if text is None or not text.strip():
        return None
    key = text.strip()
    if not TICKET_KEY.match(key):
        raise CommandError(f"`{key}` is not a Jira issue key like OPS-123")
    return key


def booking_end(env: Environment, until: datetime, *, now: datetime) -> datetime:
    """``until`` checked for a booking starting ``now``: in the future, within the max."""
    if until <= now:
        raise CommandError(f"{until:%Y-%m-%d %H:%M} UTC is in the past")
    if until - now > max_span(env):
        raise CommandError(
            f"{env.name} can be booked for at most {env.max_booking} "
            f"(you asked for {span_text(until - now)})"
        )
    return until


def end_from_text(env: Environment, text: str, *, now: datetime) -> datetime:
    """The end of a booking starting now, from DURATION text (``3d`` or an ISO date/time)."""
    return booking_end(env, parse_until(text, now=now), now=now)


def end_from_picker(env: Environment, day: date, at: time | None, *, tz: tzinfo,
                    now: datetime) -> datetime:
    """The end chosen in the Book modal: a local date and time (end of that day if no time)."""
    local = datetime.combine(day, at or time(23, 59), tzinfo=tz)
    return booking_end(env, local.astimezone(UTC), now=now)


def extension_end(env: Environment, held: Held, text: str, *, now: datetime) -> datetime:
    """The new end: a span counts from the current end; a date/time must be later than it."""
    if held.until <= now:
        raise CommandError(f"your booking of {env.name} has already ended; book it again")
    try:
        new_end = held.until + parse_span(text)
    except CommandError:
        new_end = parse_until(text, now=now)  # an ISO date/time, or the grammar's error
        if new_end <= held.until:
            raise CommandError(
                f"{env.name} is already booked until {held.until:%a %b %d %H:%M} UTC; "
                "an extension never shortens a booking"
            ) from None
    limit = held.started_at + max_span(env)
    if new_end > limit:
        room = limit - held.until
        more = f"at most {span_text(room)} more" if room > timedelta(0) else "no more time"
        raise CommandError(
            f"{env.name} can be booked for at most {env.max_booking} in total: this booking "
            f"started {held.started_at:%a %b %d %H:%M} UTC, so it can get {more} "
            f"(until {limit:%a %b %d %H:%M} UTC)"
        )
    return new_end


def team_members(config: Config, team: str) -> set[str]:
    cfg = config.teams.get(team)
    if cfg is None:
        return set()
    return {m.lower() for m in cfg.members} | ({cfg.manager.lower()} if cfg.manager else set())


def is_admin(config: Config, env: Environment, email: str, *,
             group_members: GroupMembers | None = None) -> bool:
    """Admins (bot.admins), and the manager of the environment's team."""
    if admins.is_admin(config, email, group_members=group_members):
        return True
    email = email.lower()
    team = config.teams.get(env.team or "")
    return team is not None and (team.manager or "").lower() == email


def may_book(config: Config, env: Environment, email: str, *,
             group_members: GroupMembers | None = None) -> bool:
    if not env.bookers or is_admin(config, env, email, group_members=group_members):
        return True
    email = email.lower()
    for entry in env.bookers:
        if "@" in entry and entry.lower() == email:
            return True
        if "@" not in entry and email in team_members(config, entry):
            return True
    return False


def check_may_book(config: Config, env: Environment, email: str, *,
                   group_members: GroupMembers | None = None) -> None:
    if not may_book(config, env, email, group_members=group_members):
        raise CommandError(f"only {', '.join(env.bookers)} (or an admin) may book {env.name}")


def check_may_manage(config: Config, env: Environment, held: Held, email: str,
                     verb: str, *, group_members: GroupMembers | None = None) -> None:
    """Only the holder, the environment team's manager or an admin may release or extend a
    booking."""
    if held.holder.lower() != email.lower() and not is_admin(config, env, email,
                                                             group_members=group_members):
        who = who_may(config, env.team, (held.holder, "the holder"))
        raise CommandError(f"only {who} can {verb} {env.name}")


def check_nobody_waiting(env: Environment, held: Held, queue: Sequence[str]) -> None:
    """An extension is refused while someone else waits for the environment."""
    waiting = [email for email in queue if email.lower() != held.holder.lower()]
    if waiting:
        others = f" and {len(waiting) - 1} more" if len(waiting) > 1 else ""
        raise CommandError(
            f"{env.name} can't be extended: {waiting[0]}{others} is waiting for it. "
            "Release it when you are done, or ask them."
        )


def daily_rate(daily: Mapping[str, Mapping[date, float]], *, today: date) -> dict[str, float]:
    """Cost per day per currency: the mean of the last ``RATE_DAYS`` complete days."""
    start = today - timedelta(days=RATE_DAYS)
    return {cur: sum(v for d, v in days.items() if start <= d < today) / RATE_DAYS
            for cur, days in daily.items()
            if any(start <= d < today for d in days)}


def expected_cost(rate: Mapping[str, float], start: datetime,
                  end: datetime) -> dict[str, float]:
    days = max(0.0, (end - start).total_seconds() / 86400)
    return {cur: per_day * days for cur, per_day in rate.items()}


def actual_cost(daily: Mapping[str, Mapping[date, float]], rate: Mapping[str, float],
                start: datetime, end: datetime) -> tuple[dict[str, float], int]:
    """Cost of the days held (each prorated by the share of it held), and how many days were
    estimated at ``rate`` because billing data for them has not arrived yet (it lags 1-2 days).
    """
    totals: dict[str, float] = {cur: 0.0 for cur in set(rate) | set(daily)}
    estimated = 0
    day = start.astimezone(UTC).date()
    while datetime.combine(day, time(0), tzinfo=UTC) < end:
        lo = max(start, datetime.combine(day, time(0), tzinfo=UTC))
        hi = min(end, datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC))
        share = max(0.0, (hi - lo).total_seconds() / 86400)
        known = any(day in days for days in daily.values())
        # a day counts as estimated from a minute held: a booking given back within seconds
        # holds next to nothing, and "Held 0m, cost $0.00 (1 day estimated…)" said otherwise
        estimated += not known and hi - lo >= timedelta(minutes=1)
        for cur in totals:
            per_day = daily.get(cur, {}).get(day, 0.0) if known else rate.get(cur, 0.0)
            totals[cur] += per_day * share
        day += timedelta(days=1)
    return totals, estimated


def releases_on(env: Environment, status: str, category: str | None) -> bool:
    """Whether a linked ticket moving to ``status`` (category key ``category``) releases."""
    name = status.strip().lower()
    if env.jira_release_statuses:
        return name in {s.strip().lower() for s in env.jira_release_statuses}
    return (category or "").lower() == "done" or name in DEFAULT_RELEASE_STATUSES


def reminder_due(env: Environment, held: Held, *, now: datetime) -> bool:
    """Within the lead time before the end; not for a booking that began inside it."""
    starts = held.until - reminder_lead(env)
    return held.until > now and starts <= now and held.started_at < starts
