"""APScheduler wiring: every job of bot/jobs.py that has a schedule, in a database job store.

The job store keeps each job's next run time, so a job whose time passed while the process was
down runs when it comes back (within the misfire grace): a restart at 09:00:05 still sends the
09:00 digest. A job is only re-added when its schedule changed, which would otherwise reset its
next run time. Effects are exactly-once in the database (delivery claims), so a run that happens
twice posts nothing new.
"""

from __future__ import annotations

import logging

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.errors import ConfigError
from bot.jobs import JOBS, run_job
from bot.services import Services

log = logging.getLogger(__name__)
MISFIRE_GRACE_SECONDS = 3600
JOBSTORE_TABLE = "apscheduler_jobs"

# The job store persists jobs by reference ("module:function" + picklable args), so the running
# services are reached through this module rather than pickled.
_services: Services | None = None


def run_scheduled(name: str) -> None:
    """What the scheduler calls; an exception propagates to APScheduler, which logs it."""
    if _services is None:
        raise RuntimeError("the scheduler ran a job before build_scheduler() was called")
    log.info("job %s: %s", name, run_job(_services, name))


def build_scheduler(services: Services) -> BackgroundScheduler:
    """A started-but-paused scheduler with one entry per scheduled job; call ``resume()``."""
    global _services
    _services = services
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=services.engine,
                                                 tablename=JOBSTORE_TABLE)},
        timezone="UTC",
        job_defaults={"coalesce": True, "max_instances": 1,
                      "misfire_grace_time": MISFIRE_GRACE_SECONDS},
    )
    scheduler.start(paused=True)
    for job in JOBS.values():
        schedule = job.schedule(services)
        stored = scheduler.get_job(job.name)
        if schedule is None:
            if stored is not None:
                stored.remove()
            continue
        try:
            trigger = CronTrigger.from_crontab(schedule.cron, timezone=schedule.timezone)
        except (ValueError, LookupError) as exc:
            raise ConfigError(f"schedule of job {job.name}: {schedule.cron!r} in "
                              f"{schedule.timezone} is not valid ({exc})") from exc
        if stored is not None and str(stored.trigger) == str(trigger):
            continue  # keep its stored next run time, which may be a missed run to catch up
        scheduler.add_job(run_scheduled, trigger, args=[job.name], id=job.name,
                          name=job.description, replace_existing=True)
    return scheduler
