"""The YAML config (``FINOPS_CONFIG``): accounts, teams, owner rules, policies and gates.

Loaded and validated once at start; a bad file fails with the file, the key and what is wrong.
Accounts, teams and rules are defined here; the feature sections (policies, environments,
schedules, gates, digest, jobs, deploys) in ``bot.config_sections``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from bot.config_sections import (
    AnomalyGates,
    DeploysConfig,
    DigestConfig,
    Environment,
    JobsConfig,
    LifecycleConfig,
    PowerSchedule,
    Section,
    SlackChannel,
    TtlPolicy,
)
from bot.errors import ConfigError

DEMO_CONFIG = Path(__file__).parent / "demo" / "demo.yaml"
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def normalised_email(value: str) -> str:
    """An email as the bot compares them (Slack's, tags'): trimmed, in lower case."""
    email = value.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise ValueError(f"{value!r} is not an email address")
    return email


Email = Annotated[str, AfterValidator(normalised_email)]
# checked as one list, so an error names the list's key (``teams.web.members``), not an index
Emails = Annotated[list[str], AfterValidator(lambda v: [normalised_email(e) for e in v])]


# --- accounts: one per cost source, discriminated by provider ---------------------------------


class FocusAccount(Section):
    """FOCUS files: a file, a folder, or an ``s3://bucket/prefix`` (AWS Data Exports)."""

    provider: Literal["focus"]
    name: str
    path: str


class AwsAccount(Section):
    """AWS: a CUR 2.0 / FOCUS export in S3, inventory via tagging API + EC2, CE as fallback."""

    provider: Literal["aws"]
    name: str
    export: str | None = None  # s3://bucket/prefix of a CUR 2.0 or FOCUS data export
    regions: list[str] = Field(default_factory=lambda: ["us-east-1"])
    cost_explorer: bool = True  # used when no export is configured
    endpoint_url: str | None = None


# A BigQuery table path: project id (lower case, digits, hyphens; a domain-scoped one has a
# dot and a colon), dataset and table. It is formatted into SQL (BigQuery does not bind table
# names), so it must be exactly this.
BIGQUERY_TABLE = re.compile(
    r"^(?P<project>[a-z][a-z0-9.:-]*[a-z0-9])\.(?P<dataset>\w+)\.(?P<table>[\w-]+)$"
)


class GcpAccount(Section):
    """GCP: BigQuery billing export table; billing accounts/projects via Cloud Billing."""

    provider: Literal["gcp"]
    name: str
    billing_account: str | None = None
    bigquery_table: str  # project.dataset.gcp_billing_export_resource_v1_<BILLING_ACCOUNT>
    project: str | None = None  # project that runs the query (defaults to the table's)
    endpoint_url: str | None = None  # BigQuery API root, e.g. http://127.0.0.1:9050
    billing_endpoint_url: str | None = None  # Cloud Billing API root (discovery)
    compute_endpoint_url: str | None = None  # Compute Engine API root (stop/start/delete)

    @field_validator("bigquery_table")
    @classmethod
    def _table(cls, value: str) -> str:
        if not BIGQUERY_TABLE.match(value):
            raise ValueError(f"{value!r} is not a BigQuery table path like "
                             "my-project.billing.gcp_billing_export_resource_v1_0123AB")
        return value


class AzureAccount(Section):
    """Azure: Cost Management ``query.usage`` on a scope (subscription, resource group...)."""

    provider: Literal["azure"]
    name: str
    scope: str
    endpoint_url: str | None = None


class DemoAccount(Section):
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


class Team(Section):
    """A team: monthly budget, Slack channel, manager and the owner of its unclaimed resources."""

    budget: float | None = Field(default=None, ge=0)
    currency: str = "USD"
    slack_channel: SlackChannel | None = None
    manager: Email | None = None
    default_owner: str | None = None
    members: Emails = Field(default_factory=list)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        code = value.strip().upper()  # as billing files give it: USD, EUR
        if not re.fullmatch(r"[A-Z]{3}", code):
            raise ValueError(f"{value!r} is not a currency code like USD or EUR")
        return code


class Match(Section):
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


class Rule(Section):
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


class Config(Section):
    """The whole YAML config."""

    cost_metric: Literal["EffectiveCost", "BilledCost", "ListCost"] = "EffectiveCost"
    command: str = "/finops"
    admins: Emails = Field(default_factory=list)
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

    @field_validator("command")
    @classmethod
    def _command(cls, value: str) -> str:
        if not re.fullmatch(r"/[^\s/]+", value):  # what Slack sends in a command's `command`
            raise ValueError(f"{value!r} is not a slash command like /finops")
        return value

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
        for key, named in (("accounts", self.accounts), ("schedules", self.schedules),
                           ("environments", self.environments)):
            names = [item.name for item in named]
            duplicate = next((n for n in names if names.count(n) > 1), None)
            if duplicate is not None:
                raise ValueError(f"{key}: the name {duplicate!r} is used twice")
        for index, env in enumerate(self.environments):
            if env.team is not None and env.team not in self.teams:
                raise ValueError(f"environments.{index}.team: unknown team {env.team!r}")
            for booker in env.bookers:  # a team name that is not one would let nobody book
                if "@" not in booker and booker not in self.teams:
                    raise ValueError(f"environments.{index}.bookers: {booker!r} is neither an "
                                     "email nor a configured team")
        envs = [e.name for e in self.environments]
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
    message = str(first["msg"]).removeprefix("Value error, ")  # pydantic's, for a ValueError
    if not first["loc"]:  # checks across sections name their key themselves
        return message
    return f"{'.'.join(str(p) for p in first['loc'])}: {message}"


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
