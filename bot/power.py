"""Power schedules, pure: which scheduled event (a notice before the stop, the stop, the start)
is the latest one at a moment, in the schedule's time zone.

With ``weekdays_only`` the resources stop on weekday evenings and start on weekday mornings,
so Friday's stop lasts the weekend. The latest event decides what a resource should be doing
now; each event is carried out once per resource (the caller claims it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bot.config_sections import PowerSchedule

NOTICE_BEFORE = timedelta(minutes=30)
Kind = Literal["notice", "stop", "start"]


@dataclass(frozen=True, slots=True)
class Event:
    """One scheduled event: its kind, the local date it belongs to, and when it happens."""

    kind: Kind
    day: date
    at: datetime

    @property
    def key(self) -> str:
        return f"{self.day.isoformat()}:{self.kind}"


def events_on(schedule: PowerSchedule, day: date) -> list[Event]:
    """The events of one local day (none on weekends for a weekdays-only schedule)."""
    if schedule.weekdays_only and day.weekday() >= 5:
        return []
    tz = ZoneInfo(schedule.timezone)
    stop = datetime.combine(day, schedule.stop_at, tz)
    return [
        Event("notice", day, stop - NOTICE_BEFORE),
        Event("stop", day, stop),
        Event("start", day, datetime.combine(day, schedule.start_at, tz)),
    ]


def last_event(schedule: PowerSchedule, now: datetime) -> Event | None:
    """The latest event at or before ``now`` (looking back a week)."""
    local = now.astimezone(ZoneInfo(schedule.timezone)).date()
    for back in range(8):
        passed = [e for e in events_on(schedule, local - timedelta(days=back)) if e.at <= now]
        if passed:
            return max(passed, key=lambda e: e.at)
    return None
