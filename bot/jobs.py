"""Scheduled jobs: glue that loads from storage, calls the domain and sends through ports.

Every job can also be run once, now, with ``finops-bot jobs run NAME``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot import metrics
from bot.errors import ConfigError, FinopsError, ProviderError
from bot.pipeline import ingest, reassign_owners
from bot.services import Services
from providers.base import build_source
from storage import leader
from storage.db import session_scope

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A crontab expression and the time zone it is read in."""

    cron: str
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Job:
    """A named job, its schedule (from the config; None: on demand only) and what it does."""

    name: str
    description: str
    schedule: Callable[[Services], Schedule | None]
    run: Callable[[Services], str]


def run_ingest(services: Services) -> str:
    """Ingest every configured account; one failing account does not stop the others.

    The anomaly scan follows over what was stored. If an account failed, the job then fails
    too, naming each failed account and why, so that it shows in the job metrics and the log.
    """
    lines: list[str] = []
    failed: list[str] = []
    for account in services.config.accounts:
        try:
            report = ingest(services.engine, build_source(account), config=services.config,
                            now=services.now())
        except Exception as exc:  # each account stands alone: expired keys, a bad file, ...
            if not isinstance(exc, FinopsError):  # a bug or the database: keep the traceback
                log.exception("ingesting account %s failed", account.name)
            failed.append(f"{account.name}: {exc}")
            continue
        metrics.INGESTED_ROWS.labels(source=account.name).inc(report.rows_written)
        lines.append(f"{account.name}: {report.rows_written} rows, {report.resources} resources")
    if lines:
        try:
            lines.append(run_scan(services))  # the anomaly scan follows every ingest
        except ProviderError as exc:  # alerts Slack did not take: the next scan sends them
            failed.append(f"scan: {exc}")
    if failed:
        done = f" (done: {'; '.join(lines)})" if lines else ""
        raise ProviderError(f"ingest failed for {'; '.join(failed)}{done}")
    return "; ".join(lines) or "no accounts configured"


def run_assign(services: Services) -> str:
    """Re-resolve every resource's owner and team with the current rules."""
    with session_scope(services.engine) as session:
        changed = reassign_owners(session, config=services.config)
    return f"{changed} assignments changed"


def _digest_schedule(services: Services) -> Schedule:
    at = services.config.digest.time
    return Schedule(f"{at.minute} {at.hour} * * *", services.config.digest.timezone)


def run_digests(services: Services) -> str:
    from bot.digests import run_digests as send

    return send(services, worker=services.worker)


def run_scan(services: Services) -> str:
    from bot.scan import run_scan as scan

    return scan(services, worker=services.worker)


def run_bookings(services: Services) -> str:
    from bot.envs_effects import run_bookings as sweep

    return sweep(services)


def run_tickets(services: Services) -> str:
    from bot.envs_effects import run_tickets as check

    return check(services)


def _tickets_schedule(services: Services) -> Schedule | None:
    # catches the transitions the Jira webhook missed; the webhook is the prompt path
    return (Schedule("*/5 * * * *") if services.jira is not None
            and services.config.environments else None)


def run_deploys(services: Services) -> str:
    from bot.deploys_effects import run_deploy_effects

    return f"{run_deploy_effects(services)} deploys' effects run"


def _deploys_schedule(services: Services) -> Schedule | None:
    # the webhook runs the effects after answering; this catches those a restart interrupted
    s = services.settings
    hooks = (s.github_webhook_secret, s.gitlab_webhook_token, s.jenkins_webhook_token)
    return Schedule("*/5 * * * *") if any(h is not None for h in hooks) else None


def run_lifecycle(services: Services) -> str:
    from bot.lifecycle_run import run_lifecycle as sweep

    return sweep(services)


def run_power(services: Services) -> str:
    from bot.power_run import run_power as sweep

    return sweep(services)


def _power_schedule(services: Services) -> Schedule | None:
    # every 5 minutes: the notice comes 30 minutes before a stop, stops and starts on time
    return Schedule("*/5 * * * *") if services.config.schedules else None


def _bookings_schedule(services: Services) -> Schedule | None:
    # every minute: reminders and automatic releases are due to the minute
    return Schedule("* * * * *") if services.config.environments else None


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job("ingest", "ingest costs from every configured account, resolve owners, scan",
            lambda s: Schedule(s.config.jobs.ingest), run_ingest),
        Job("assign", "re-resolve owners and teams with the current rules",
            lambda s: None, run_assign),
        Job("scan", "detect cost anomalies and alert owners and teams",
            lambda s: None, run_scan),
        Job("digest", "send the daily digests (once per scope per day)",
            _digest_schedule, run_digests),
        Job("bookings", "release ended bookings, remind holders, run booking effects",
            _bookings_schedule, run_bookings),
        Job("tickets", "release bookings whose linked Jira ticket was closed (what the "
            "webhook missed)", _tickets_schedule, run_tickets),
        Job("deploys", "run pending deploy effects (channel lines, warnings, PR comments)",
            _deploys_schedule, run_deploys),
        Job("lifecycle", "TTL workflows: warn owners, then notify, stop or destroy (dry run "
            "unless enforced)", lambda s: Schedule(s.config.lifecycle.sweep), run_lifecycle),
        Job("power", "power schedules: notice, stop off-hours, start again (dry run unless "
            "enforced)", _power_schedule, run_power),
    )
}


def run_job(services: Services, name: str) -> str:
    """Run one job now; records its outcome and duration in the metrics."""
    job = JOBS.get(name)
    if job is None:
        raise ConfigError(f"no job named {name!r}; jobs: {', '.join(JOBS)}")
    started = time.perf_counter()
    # the run is recorded, so a run its process never finished (killed) is run again by the
    # next scheduler leader (storage.leader.take_over); its effects are claimed, never doubled
    with session_scope(services.engine) as session:
        run_id = leader.start_run(session, job=name, worker=services.worker, now=services.now())
    outcome = "error"
    try:
        result = job.run(services)
        outcome = result
    except Exception as exc:
        metrics.JOBS.labels(job=name, outcome="error").inc()
        outcome = f"error: {exc}"
        raise
    finally:
        metrics.JOB_SECONDS.labels(job=name).observe(time.perf_counter() - started)
        with session_scope(services.engine) as session:
            leader.finish_run(session, run_id=run_id, now=services.now(), outcome=outcome)
    metrics.JOBS.labels(job=name, outcome="ok").inc()
    return result
