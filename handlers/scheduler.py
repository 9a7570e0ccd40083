"""APScheduler wiring: every job of bot/jobs.py that has a schedule, in a database job store,
run by one replica at a time (the holder of the leader lock, storage/leader.py).

The job store keeps each job's next run time, so a job whose time passed while the process was
down runs when it comes back (within the misfire grace): a restart at 09:00:05 still sends the
09:00 digest. A job is only re-added when its schedule changed, which would otherwise reset its
next run time. Effects are exactly-once in the database (delivery claims), so a run that happens
twice posts nothing new.
"""

from __future__ import annotations

import logging
import threading

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.errors import ConfigError
from bot.jobs import JOBS, run_job
from bot.services import Services
from storage.db import session_scope
from storage.leader import LeaderLock, take_over

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


class _Scheduler(BackgroundScheduler):
    """APScheduler's background scheduler, whose loop survives a failing job store.

    APScheduler 3 retries only a failed ``get_due_jobs()``. If ``get_next_run_time()`` or
    ``update_job()`` raises (the database restarting, a dropped connection, SQLite busy), the
    exception ends the scheduler's thread: no job would run again while the process looked
    healthy. Here that round is logged and retried after ``jobstore_retry_interval`` seconds,
    or sooner when a job is added or changed. A job submitted in the failed round may run again
    in the next one; job effects are exactly-once in the database, so it posts nothing new.
    """

    def _process_jobs(self) -> float | None:
        try:
            wait: float | None = super()._process_jobs()
        except Exception:
            log.exception("scheduler: the job store failed; trying again in %s s",
                          self.jobstore_retry_interval)
            return float(self.jobstore_retry_interval)
        return wait


def build_scheduler(services: Services) -> BackgroundScheduler:
    """A started-but-paused scheduler with one entry per scheduled job; call ``resume()``."""
    global _services
    _services = services
    scheduler = _Scheduler(
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


class Leadership:
    """Runs the scheduler while this process holds the leader lock; the others stand by.

    Every ``interval`` seconds a standby replica tries to take the lock, and the leader checks
    that it still has it. A new leader first cleans up after the previous one: its unfinished
    claims are released and its interrupted job runs are run again (in a thread), then the
    scheduler starts and catches up what is due.
    """

    def __init__(self, services: Services, *, interval: float = 5.0) -> None:
        self.services = services
        self.interval = interval
        self.lock = LeaderLock(services.engine)
        self.scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scheduler-leadership",
                                        daemon=True)

    @property
    def is_leader(self) -> bool:
        return self.scheduler is not None

    def start(self) -> None:
        self.services.scheduler_role = "standby"
        self.step()  # the first attempt before serving, so a lone replica leads at once
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 5)
        self._resign()
        self.lock.release()
        self.services.scheduler_role = "off"

    def step(self) -> None:
        """One round: take the lead if free, or check it is still ours."""
        try:
            if self.scheduler is None:
                if self.lock.try_acquire():
                    self._lead()
            elif not self.lock.held():
                log.error("lost the scheduler's leader lock: standing by")
                self._resign()
        except Exception:  # the database may be restarting: try again next round
            log.exception("scheduler leadership check failed")

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.step()

    def _lead(self) -> None:
        services = self.services
        with session_scope(services.engine) as session:
            previous, released, unfinished = take_over(session, worker=services.worker,
                                                       now=services.now())
        log.info("this replica (%s) now runs the scheduler (previous: %s; %d claims released; "
                 "re-running %s)", services.worker, previous, released,
                 ", ".join(unfinished) or "nothing")
        self.scheduler = build_scheduler(services)
        self.scheduler.resume()
        services.scheduler_role = "leader"
        for name in unfinished:
            threading.Thread(target=_rerun, args=(services, name), name=f"rerun-{name}",
                             daemon=True).start()

    def _resign(self) -> None:
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        if not self._stop.is_set():
            self.services.scheduler_role = "standby"


def _rerun(services: Services, name: str) -> None:
    try:
        log.info("job %s (interrupted before): %s", name, run_job(services, name))
    except Exception:
        log.exception("re-running the interrupted job %s failed", name)
