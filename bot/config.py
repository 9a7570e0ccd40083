"""The YAML config (``FINOPS_CONFIG``): accounts, teams, owner rules, policies and gates.

Loaded and validated once at start; a bad file fails with the file, the key and what is wrong.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.durations import parse_span
from bot.errors import CommandError, ConfigError

DEMO_CONFIG = Path(__file__).parent / "demo" / "demo.yaml"
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- accounts: one per cost source, discriminated by provider ---------------------------------


class FocusAccount(_Model):
    """FOCUS files: a file, a folder, or an ``s3://bucket/prefix`` (AWS Data Exports)."""

    provider: Literal["focus"]
    name: str
    path: str


class AwsAccount(_Model):
    """AWS: a CUR 2.0 / FOCUS export in S3, inventory via tagging API + EC2, CE as fallback."""

    provider: Literal["aws"]
    name: str
    export: str | None = None  # s3://bucket/prefix of a CUR 2.0 or FOCUS data export
    regions: list[str] = Field(default_factory=lambda: ["us-east-1"])
    cost_explorer: bool = True  # used when no export is configured
    endpoint_url: str | None = None


class GcpAccount(_Model):
    """GCP: BigQuery billing export table; billing accounts/projects via Cloud Billing."""

    provider: Literal["gcp"]
    name: str
    billing_account: str | None = None
    bigquery_table: str  # project.dataset.gcp_billing_export_resource_v1_<BILLING_ACCOUNT>
    project: str | None = None  # project that runs the query (defaults to the table's)
    endpoint_url: str | None = None  # BigQuery API root, e.g. http://127.0.0.1:9050
    billing_endpoint_url: str | None = None  # Cloud Billing API root (discovery)
    compute_endpoint_url: str | None = None  # Compute Engine API root (stop/start/delete)


class AzureAccount(_Model):
    """Azure: Cost Management ``query.usage`` on a scope (subscription, resource group...)."""

    provider: Literal["azure"]
    name: str
    scope: str
    endpoint_url: str | None = None


class DemoAccount(_Model):
    """Generated demo costs (several providers) relative to today."""

    provider: Literal["demo"]
    name: str
    days: int = Field(default=75, ge=30, le=400)
    seed: int = 7


Account = Annotated[
    FocusAccount | AwsAccount | GcpAccount | AzureAccount | DemoAccount,
    Field(discriminator="provider"),
]


# --- teams and owner rules --------------------------------------------------------------------


class Team(_Model):
    """A team: monthly budget, Slack channel, manager and the owner of its unclaimed resources."""

    budget: float | None = Field(default=None, ge=0)
    currency: str = "USD"
    slack_channel: str | None = None
    manager: str | None = None
    default_owner: str | None = None
    members: list[str] = Field(default_factory=list)


class Match(_Model):
    """Conditions of a rule, AND-ed; an empty match matches everything."""

    tag: dict[str, str] = Field(default_factory=dict)  # tag equals
    tag_exists: list[str] = Field(default_factory=list)
    tag_prefix: dict[str, str] = Field(default_factory=dict)
    name_prefix: str | None = None
    name_contains: str | None = None
    name_regex: str | None = None
    id_prefix: str | None = None
    id_contains: str | None = None
    id_regex: str | None = None
    provider: str | None = None
    account: str | None = None
    region: str | None = None
    service: str | None = None
    resource_type: str | None = None

    @field_validator("name_regex", "id_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class Rule(_Model):
    """An assignment rule; rules apply in file order and the first match wins."""

    name: str
    match: Match = Field(default_factory=Match)
    owner: str | None = None
    team: str | None = None

    @model_validator(mode="after")
    def _has_target(self) -> Rule:
        if self.owner is None and self.team is None:
            raise ValueError("a rule needs an owner, a team, or both")
        if self.owner is not None and not self.owner.strip():
            raise ValueError("owner is blank: name someone, or leave owner out")
        return self


# --- policies validated now, used by the lifecycle features ---------------------------------


def _check_span(value: str) -> str:
    try:
        parse_span(value)
    except CommandError as exc:
        raise ValueError(str(exc)) from exc
    return value


LifecycleAction = Literal["notify", "stop", "destroy", "notify-then-destroy"]


class TtlPolicy(_Model):
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


class LifecycleConfig(_Model):
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
    sweep: str = "*/15 * * * *"  # cron (UTC) of the lifecycle sweep
    admin_channel: str | None = None  # where cap and escalation alerts go (else admins by DM)

    @field_validator("warn_before", "grace", "max_extension")
    @classmethod
    def _span(cls, value: str) -> str:
        return _check_span(value)


HookEvent = Literal["acquire", "extend", "release"]
_GRANT_AND_REVOKE: tuple[HookEvent, ...] = ("acquire", "release")


class Hook(_Model):
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


class Environment(_Model):
    """A shared environment people book: its resources (ids or a tag selector) and limits."""

    name: str
    team: str | None = None
    resources: list[str] = Field(default_factory=list)
    tag_selector: dict[str, str] = Field(default_factory=dict)
    max_booking: str = "7d"
    slack_channel: str | None = None
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


class PowerSchedule(_Model):
    """Stop resources off-hours and start them again."""

    name: str
    tag_selector: dict[str, str] = Field(default_factory=dict)
    resources: list[str] = Field(default_factory=list)
    stop_at: dt.time
    start_at: dt.time
    timezone: str = "UTC"
    weekdays_only: bool = True


class AnomalyGates(_Model):
    """Gates an anomaly must pass before anyone is alerted."""

    min_history_days: int = Field(default=14, ge=1)
    min_impact: float = Field(default=25.0, ge=0)
    min_impact_pct: float = Field(default=20.0, ge=0)
    min_score: float = Field(default=5.0, ge=0)  # robust z-score of the day (bot.anomaly)
    lag_days: int = Field(default=2, ge=0)  # billing data of the last N days may be partial


class DigestConfig(_Model):
    """When the daily digest goes out, and when it is skipped as noise."""

    time: dt.time = dt.time(9, 0)
    timezone: str = "UTC"
    floor: float = Field(default=1.0, ge=0)  # skip scopes spending less than this a week
    min_change_pct: float = Field(default=5.0, ge=0)  # "nothing changed" below this


class JobsConfig(_Model):
    """Cron expressions (crontab syntax, UTC) of the scheduled jobs."""

    ingest: str = "0 */6 * * *"


class DeploysConfig(_Model):
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


class Config(_Model):
    """The whole YAML config."""

    cost_metric: Literal["EffectiveCost", "BilledCost", "ListCost"] = "EffectiveCost"
    command: str = "/finops"
    admins: list[str] = Field(default_factory=list)
    admin_groups: list[str] = Field(default_factory=list)  # Slack user group ids: S0123ABCD
    owner_tags: list[str] = Field(default_factory=lambda: ["owner", "owner-email", "created-by"])
    team_tags: list[str] = Field(default_factory=lambda: ["team"])
    accounts: list[Account] = Field(default_factory=list)
    teams: dict[str, Team] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    ttl_policies: list[TtlPolicy] = Field(default_factory=list)
    environments: list[Environment] = Field(default_factory=list)
    schedules: list[PowerSchedule] = Field(default_factory=list)
    anomaly: AnomalyGates = Field(default_factory=AnomalyGates)
    digest: DigestConfig = Field(default_factory=DigestConfig)
    jobs: JobsConfig = Field(default_factory=JobsConfig)
    deploys: DeploysConfig = Field(default_factory=DeploysConfig)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)

    @field_validator("admin_groups")
    @classmethod
    def _group_ids(cls, value: list[str]) -> list[str]:
        for group in value:
            if not _GROUP_ID.match(group):
                raise ValueError(f"{group!r} is not a Slack user group id (like S0123ABCD)")
        return value

    @model_validator(mode="after")
    def _references(self) -> Config:
        for index, rule in enumerate(self.rules):
            if rule.team is not None and rule.team not in self.teams:
                raise ValueError(f"rules.{index}.team: unknown team {rule.team!r}")
        for index, policy in enumerate(self.ttl_policies):
            if policy.team is not None and policy.team not in self.teams:
                raise ValueError(f"ttl_policies.{index}.team: unknown team {policy.team!r}")
        names = [a.name for a in self.accounts]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise ValueError(f"accounts: the name {duplicate!r} is used twice")
        envs = [e.name for e in self.environments]
        duplicate = next((n for n in envs if envs.count(n) > 1), None)
        if duplicate is not None:
            raise ValueError(f"environments: the name {duplicate!r} is used twice")
        aliases = [a for e in self.environments for a in e.deploy_names if a != e.name]
        clash = next((a for a in aliases if aliases.count(a) > 1 or a in envs), None)
        if clash is not None:
            raise ValueError(f"environments: the deploy name {clash!r} names two environments")
        return self

    def environment(self, name: str) -> Environment | None:
        return next((e for e in self.environments if e.name == name), None)

    def deploy_target(self, name: str) -> Environment | None:
        """The environment a CI system means by ``name``: its own name, or one of its
        ``deploy_names``."""
        return self.environment(name) or next(
            (e for e in self.environments if name in e.deploy_names), None)

    def account(self, name: str) -> Account:
        for acc in self.accounts:
            if acc.name == name:
                return acc
        raise ConfigError(f"no account named {name!r} in the config")


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"{key}: {first['msg']}"


def parse_config(text: str, *, source: str) -> Config:
    """Parse YAML text into a Config; errors name ``source``, the key and the problem."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"{source}{where}: not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from exc


def load_config(path: Path | None) -> Config:
    """Load the config file, or the bundled demo config when ``path`` is None."""
    target = DEMO_CONFIG if path is None else path
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{target}: cannot read the config file ({exc.strerror})") from exc
    return parse_config(text, source=str(target))
