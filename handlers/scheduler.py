"""APScheduler wiring: every job of bot/jobs.py with a cron schedule, in UTC.

Effects are made exactly-once in the database, not by the job store, so a memory store is
enough; the misfire grace is large so that a restart just after a run time still runs the job.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.errors import ConfigError
from bot.jobs import JOBS, run_job
from bot.services import Services

log = logging.getLogger(__name__)
MISFIRE_GRACE_SECONDS = 3600


def build_scheduler(services: Services) -> BackgroundScheduler:
    """A scheduler with one entry per scheduled job (not started)."""
    scheduler = BackgroundScheduler(
        timezone="UTC",
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": MISFIRE_GRACE_SECONDS},
    )
    for job in JOBS.values():
        schedule = job.schedule(services)
        if schedule is None:
            continue
        try:
            trigger = CronTrigger.from_crontab(schedule.cron, timezone=schedule.timezone)
        except (ValueError, LookupError) as exc:
            raise ConfigError(f"jobs.{job.name}: {schedule.cron!r} in {schedule.timezone} is not "
                              "a valid schedule") from exc
        scheduler.add_job(_run, trigger, args=(services, job.name), id=job.name,
                          name=job.description, replace_existing=True)
    return scheduler


def _run(services: Services, name: str) -> None:
    # an exception propagates to APScheduler, which logs it and keeps the schedule
    log.info("job %s: %s", name, run_job(services, name))
