"""DURATION grammar shared by every command: ``30m``, ``4h``, ``3d``, ``1w`` or an ISO date/time."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from bot.errors import CommandError

_RELATIVE = re.compile(r"^([0-9]{1,4})([mhdw])$")  # ASCII digits: not ٣d or １w
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
HELP = "a duration like 30m, 4h, 3d, 1w, or an ISO date/time like 2026-12-01 or 2026-12-01T18:00"


def parse_until(text: str, *, now: datetime) -> datetime:
    """The moment ``text`` designates, counted from ``now``; an ISO date/time is returned in UTC
    (read as UTC if it names no offset).

    A bare ISO date (``2026-12-01`` or ``20261201``) means the end of that day (UTC). Past
    moments are refused.
    """
    value = text.strip()
    match = _RELATIVE.match(value.lower())
    if match:
        amount = int(match.group(1))
        if amount == 0:
            raise CommandError(f"`{text}` is zero: use {HELP}")
        return now + timedelta(**{_UNITS[match.group(2)]: amount})
    try:
        moment = datetime.combine(date.fromisoformat(value), time(23, 59), tzinfo=UTC)
    except ValueError:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise CommandError(f"`{text}` is not {HELP}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        # stored and shown as UTC: a moment kept in another offset would be misread as UTC
        moment = moment.astimezone(UTC)
    except OverflowError:  # past 9999-12-31 in UTC
        raise CommandError(f"`{text}` is too far in the future") from None
    if moment <= now:
        raise CommandError(f"`{text}` is in the past")
    return moment


def parse_span(text: str) -> timedelta:
    """A relative duration only (``3d``), as used by policies and extensions."""
    match = _RELATIVE.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise CommandError(f"`{text}` is not a duration like 30m, 4h, 3d or 1w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
