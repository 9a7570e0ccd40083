"""The feature sections of the YAML config: TTL policies and the lifecycle's brakes, shared
environments and their access hooks, power schedules, anomaly gates, the digest, job times and
deploy tracking. ``bot.config.Config`` puts them together with accounts, teams and rules.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from bot.durations import parse_span
from bot.errors import CommandError


class Section(BaseModel):
    """A block of the config: unknown keys are errors, values cannot change once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_span(value: str) -> str:
    try:
        parse_span(value)
    except CommandError as exc:
        raise ValueError(str(exc)) from exc
    return value


def check_channel(value: str) -> str:
    """A Slack channel as chat.postMessage takes it: ``#name`` or an id; no spaces (Slack's
    names have none), at most 80 characters."""
    if not re.fullmatch(r"#?[^\s#]{1,80}", value):
        raise ValueError(f"{value!r} is not a Slack channel like #team-costs or C0123ABCD")
    return value


def _check_cron(value: str) -> str:
    """A crontab expression the scheduler takes (five fields, UTC)."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a crontab schedule like '*/15 * * * *' "
                         f"({exc})") from exc
    return value


def _check_timezone(value: str) -> str:
    """An IANA time zone name (``Europe/Berlin``, ``UTC``)."""
    try:
        ZoneInfo(value)
    except (ValueError, ZoneInfoNotFoundError):
        raise ValueError(f"{value!r} is not a time zone name like 'Europe/Berlin' or "
                         "'UTC'") from None
    return value


# Field types that carry their check: the message names the key, as a field validator's does.
SlackChannel = Annotated[str, AfterValidator(check_channel)]
Crontab = Annotated[str, AfterValidator(_check_cron)]
TimeZone = Annotated[str, AfterValidator(_check_timezone)]

LifecycleAction = Literal["notify", "stop", "destroy", "notify-then-destroy"]


class TtlPolicy(Section):
    """Max age per resource type for a team or account, and what happens when it passes.

    A policy also says what happens when a resource's own TTL (tag or extension) passes:
    the most specific matching policy's ``action``, ``warn_before`` and ``grace`` apply.
    """

    name: str
    team: str | None = None
    account: str | None = None
    resource_type: str | None = None
    max_age: str | None = None  # a DURATION such as 7d or 2w, counted from creation
    action: LifecycleAction = "notify"
    warn_before: str = "24h"
    grace: str = "24h"

    @field_validator("max_age", "warn_before", "grace")
    @classmethod
    def _span(cls, value: str | None) -> str | None:
        return None if value is None else _check_span(value)


class LifecycleConfig(Section):
    """TTL workflows and power schedules: what may be done, and the brakes on it.

    Enforcement is off by default: every stop or destroy is a dry run that says what it would
    have done. Protected tags and accounts are never touched, whatever a TTL says.
    """

    enforce: bool = False
    max_actions_per_run: int = Field(default=10, ge=1)
    protected_tags: dict[str, str] = Field(
        default_factory=lambda: {"finops:protected": "true", "do-not-delete": "true"}
    )
    protected_accounts: list[str] = Field(default_factory=list)
    action: LifecycleAction = "notify"  # when no policy matches a resource with a TTL tag
    warn_before: str = "24h"
    grace: str = "24h"
    max_extension: str = "90d"  # an extension never sets an expiry further than this from now
    sweep: Crontab = "*/15 * * * *"  # cron (UTC) of the lifecycle sweep
    # where cap and escalation alerts go (else admins by DM)
    admin_channel: SlackChannel | None = None

    @field_validator("warn_before", "grace", "max_extension")
    @classmethod
    def _span(cls, value: str) -> str:
        return _check_span(value)


HookEvent = Literal["acquire", "extend", "release"]
_GRANT_AND_REVOKE: tuple[HookEvent, ...] = ("acquire", "release")


class Hook(Section):
    """An access hook run on booking events: an HTTP endpoint (signed JSON) or a local command.

    ``secret_env`` names the environment variable holding the HMAC key (never the key itself).
    """

    url: str | None = None
    secret_env: str | None = None
    command: str | list[str] | None = None
    events: list[HookEvent] = Field(default_factory=lambda: list(_GRANT_AND_REVOKE))
    timeout: float = Field(default=10.0, gt=0, le=300)
    retries: int = Field(default=2, ge=0, le=10)
    backoff: float = Field(default=1.0, ge=0, le=60)  # seconds before the first retry, doubling

    @model_validator(mode="after")
    def _one_target(self) -> Hook:
        if (self.url is None) == (self.command is None):
            raise ValueError("a hook needs exactly one of url or command")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"hook url {self.url!r} must start with http:// or https://")
        if self.url is not None and not self.secret_env:
            raise ValueError("an HTTP hook needs secret_env (the variable holding its HMAC key)")
        return self


class Environment(Section):
    """A shared environment people book: its resources (ids or a tag selector) and limits."""

    name: str
    team: str | None = None
    resources: list[str] = Field(default_factory=list)
    tag_selector: dict[str, str] = Field(default_factory=dict)
    max_booking: str = "7d"
    slack_channel: SlackChannel | None = None
    bookers: list[str] = Field(default_factory=list)  # emails and/or team names; empty: anyone
    hooks: list[Hook] = Field(default_factory=list)
    remind_before: str = "1h"
    # Jira statuses that release a linked booking; empty: the Done category, Done/Closed/Resolved
    jira_release_statuses: list[str] = Field(default_factory=list)
    # other names CI systems deploy to this environment under (GitHub/GitLab environments, the
    # Jenkins parameter); a deploy to any of them is recorded under ``name``
    deploy_names: list[str] = Field(default_factory=list)
    announce_deploys: bool = True  # one line per deploy in the environment's channel

    @field_validator("max_booking", "remind_before")
    @classmethod
    def _span(cls, value: str) -> str:
        return _check_span(value)

    @field_validator("name")
    @classmethod
    def _one_word(cls, value: str) -> str:
        # `/finops book E 1d` splits on spaces: a name with one could never be typed
        if not value or any(c.isspace() for c in value):
            raise ValueError(f"{value!r} is not one word: `/finops book` could not name it")
        return value

    @model_validator(mode="after")
    def _reminder_in_time(self) -> Environment:
        if parse_span(self.remind_before) >= parse_span(self.max_booking):
            raise ValueError(f"remind_before ({self.remind_before}) is not shorter than "
                             f"max_booking ({self.max_booking}): no booking would be reminded")
        return self


class PowerSchedule(Section):
    """Stop resources off-hours and start them again."""

    name: str
    tag_selector: dict[str, str] = Field(default_factory=dict)
    resources: list[str] = Field(default_factory=list)
    stop_at: dt.time
    start_at: dt.time
    timezone: TimeZone = "UTC"
    weekdays_only: bool = True

    @model_validator(mode="after")
    def _a_night(self) -> PowerSchedule:
        if self.stop_at == self.start_at:
            raise ValueError("stop_at and start_at are the same time: nothing would stay stopped")
        return self


class AnomalyGates(Section):
    """Gates an anomaly must pass before anyone is alerted."""

    min_history_days: int = Field(default=14, ge=1)
    min_impact: float = Field(default=25.0, ge=0)
    min_impact_pct: float = Field(default=20.0, ge=0)
    min_score: float = Field(default=5.0, ge=0)  # robust z-score of the day (bot.anomaly)
    lag_days: int = Field(default=2, ge=0)  # billing data of the last N days may be partial


class DigestConfig(Section):
    """When the daily digest goes out, and when it is skipped as noise."""

    time: dt.time = dt.time(9, 0)
    timezone: TimeZone = "UTC"
    floor: float = Field(default=1.0, ge=0)  # skip scopes spending less than this a week
    min_change_pct: float = Field(default=5.0, ge=0)  # "nothing changed" below this


class JobsConfig(Section):
    """Cron expressions (crontab syntax, UTC) of the scheduled jobs."""

    ingest: Crontab = "0 */6 * * *"


class DeploysConfig(Section):
    """Deploy tracking from the GitHub, GitLab and Jenkins webhooks."""

    history: int = Field(default=5, ge=1, le=20)  # deploys `env E` lists
    users: dict[str, str] = Field(default_factory=dict)  # CI login or user name -> email
    github_api_url: str = "https://api.github.com"  # GitHub Enterprise: https://HOST/api/v3
    # workflow_run events count as deploys only for these workflows: name or file -> environment
    github_workflows: dict[str, str] = Field(default_factory=dict)
    jenkins_env_parameter: str = "ENV"  # the build parameter naming the environment
    # else the job name: a regular expression with a group named ``env``, e.g. ^deploy-(?P<env>.+)$
    jenkins_job_pattern: str | None = None
    jenkins_version_parameter: str = "VERSION"
    jenkins_user_parameter: str = "DEPLOYER"  # a login or an email
    pr_comments: bool = False  # comment the environment's booking and cost on the PR / MR

    @field_validator("jenkins_job_pattern")
    @classmethod
    def _has_env_group(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                pattern = re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
            if "env" not in pattern.groupindex:
                raise ValueError("the pattern needs a group named env: (?P<env>...)")
        return value

    @field_validator("github_api_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} must start with http:// or https://")
        return value.rstrip("/")
