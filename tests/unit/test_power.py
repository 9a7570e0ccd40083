"""Power schedules (pure): the latest event at a moment, in the schedule's time zone."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.config_sections import PowerSchedule
from bot.power import last_event

BERLIN = ZoneInfo("Europe/Berlin")
NIGHTS = PowerSchedule(name="nights", stop_at=time(20), start_at=time(7),
                       timezone="Europe/Berlin")
EVERY_DAY = NIGHTS.model_copy(update={"weekdays_only": False})


@pytest.mark.parametrize(("local", "kind", "day"), [
    (datetime(2026, 11, 25, 19, 29), "start", date(2026, 11, 25)),  # Wednesday
    (datetime(2026, 11, 25, 19, 30), "notice", date(2026, 11, 25)),
    (datetime(2026, 11, 25, 20, 0), "stop", date(2026, 11, 25)),
    (datetime(2026, 11, 26, 3, 0), "stop", date(2026, 11, 25)),  # still that night
    (datetime(2026, 11, 26, 7, 0), "start", date(2026, 11, 26)),
    (datetime(2026, 11, 28, 12, 0), "stop", date(2026, 11, 27)),  # Saturday: Friday's stop
    (datetime(2026, 11, 30, 6, 59), "stop", date(2026, 11, 27)),  # until Monday 07:00
    (datetime(2026, 11, 30, 7, 0), "start", date(2026, 11, 30)),
])
def test_weekday_nights_and_the_weekend(local: datetime, kind: str, day: date) -> None:
    event = last_event(NIGHTS, local.replace(tzinfo=BERLIN))
    assert event is not None and (event.kind, event.day) == (kind, day)


def test_every_day_schedules_and_time_zones() -> None:
    saturday = last_event(EVERY_DAY, datetime(2026, 11, 28, 21, 0, tzinfo=BERLIN))
    assert saturday is not None and (saturday.kind, saturday.day) == ("stop", date(2026, 11, 28))
    # 19:05 UTC is 20:05 in Berlin (CET): the stop has happened there
    utc = last_event(EVERY_DAY, datetime(2026, 11, 25, 19, 5, tzinfo=ZoneInfo("UTC")))
    assert utc is not None and utc.kind == "stop" and utc.key == "2026-11-25:stop"
