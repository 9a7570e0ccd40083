"""SQLModel tables. Every schema change also gets an Alembic migration (storage/migrations)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class CostDaily(SQLModel, table=True):
    """One resource's cost on one UTC day in one currency (FOCUS names in snake case)."""

    __tablename__ = "cost_daily"
    __table_args__ = (
        # Led by (resource_id, day): it also serves every read of some resources' days, and an
        # ingest, which writes rows by resource and then day, fills it in order.
        UniqueConstraint(
            "resource_id", "day", "provider", "billing_account_id", "currency",
            name="uq_cost_daily_row",
        ),
        Index("ix_cost_daily_day", "day"),
        # `costs resource R` matches the id or the name: without this, a scan of the period
        Index("ix_cost_daily_name_day", "resource_name", "day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    day: date
    resource_id: str = Field(max_length=1024)
    provider: str = Field(max_length=64)
    billing_account_id: str = Field(max_length=256)
    sub_account_id: str = Field(max_length=256)
    sub_account_name: str = Field(default="", max_length=256)
    service: str = Field(max_length=256)
    region: str = Field(default="", max_length=64)
    resource_name: str = Field(default="", max_length=512)
    resource_type: str = Field(default="", max_length=256)
    currency: str = Field(max_length=8)
    billed_cost: float
    effective_cost: float
    list_cost: float


class CostDayDigest(SQLModel, table=True):
    """A digest of the cost rows one ingest stored for a (provider, billing account, day).

    A re-ingest leaves a day whose new rows have the same digest as they are: a month-to-date
    export read again every few hours brings back mostly what is stored.
    """

    __tablename__ = "cost_day_digest"

    provider: str = Field(primary_key=True, max_length=64)
    billing_account_id: str = Field(primary_key=True, max_length=256)
    day: date = Field(primary_key=True)
    digest: str = Field(max_length=64)


class CostScopeDaily(SQLModel, table=True):
    """Daily cost per (team, owner, service, currency): a rollup of ``cost_daily``.

    Kept current by storage.rollup whenever costs are replaced or owners reassigned, so
    digests and team totals read thousands of rows instead of millions. Team and owner are
    ``unowned`` where the resource has none.
    """

    __tablename__ = "cost_scope_daily"
    __table_args__ = (
        UniqueConstraint("day", "team", "owner", "service", "currency", name="uq_cost_scope_daily"),
        Index("ix_cost_scope_daily_team_owner", "team", "owner"),
        # `costs team|me` read one scope's last days
        Index("ix_cost_scope_daily_team_day", "team", "day"),
        Index("ix_cost_scope_daily_owner_day", "owner", "day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    day: date
    team: str = Field(max_length=128)
    owner: str = Field(max_length=320)
    service: str = Field(max_length=256)
    currency: str = Field(max_length=8)
    billed_cost: float
    effective_cost: float
    list_cost: float


class ResourceRecentCost(SQLModel, table=True):
    """Each resource's cost over the 7 days ending ``as_of`` and the 7 days before.

    Refreshed after every ingest for the day before it ran: the digests' week-over-week
    movers by resource and account read it when its ``as_of`` is their yesterday.
    """

    __tablename__ = "resource_recent_cost"

    resource_id: str = Field(primary_key=True, max_length=1024)
    currency: str = Field(primary_key=True, max_length=8)
    as_of: date
    billed_week: float
    effective_week: float
    list_week: float
    billed_before: float
    effective_before: float
    list_before: float


class Resource(SQLModel, table=True):
    """A resource seen in costs or an inventory, with its tags and resolved owner/team."""

    __tablename__ = "resource"
    __table_args__ = (Index("ix_resource_owner", "owner"), Index("ix_resource_team", "team"))

    resource_id: str = Field(primary_key=True, max_length=1024)
    provider: str = Field(max_length=64)
    account_id: str = Field(default="", max_length=256)
    account_name: str = Field(default="", max_length=256)
    region: str = Field(default="", max_length=64)
    service: str = Field(default="", max_length=256)
    resource_type: str = Field(default="", max_length=256)
    name: str = Field(default="", max_length=512)
    tags: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    state: str = Field(default="", max_length=64)
    created_at: datetime | None = None
    first_seen: date
    last_seen: date
    owner: str | None = Field(default=None, max_length=320)
    team: str | None = Field(default=None, max_length=128)
    owner_source: str = Field(default="unowned", max_length=300)


class OwnerOverride(SQLModel, table=True):
    """A manual reassignment; it sticks over rules and tags until removed."""

    __tablename__ = "owner_override"

    resource_id: str = Field(primary_key=True, max_length=1024)
    owner: str | None = Field(default=None, max_length=320)
    team: str | None = Field(default=None, max_length=128)
    set_by: str = Field(max_length=320)
    set_at: datetime


class SlackIdentity(SQLModel, table=True):
    """Cache of users.lookupByEmail; a miss is cached too (user_id None)."""

    __tablename__ = "slack_identity"

    email: str = Field(primary_key=True, max_length=320)
    user_id: str | None = Field(default=None, max_length=64)
    looked_up_at: datetime


class IngestRun(SQLModel, table=True):
    """One ingest of one source: what was read and which period it replaced."""

    __tablename__ = "ingest_run"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=1024)
    started_at: datetime
    finished_at: datetime | None = None
    rows_written: int = 0
    period_start: date | None = None
    period_end: date | None = None
    status: str = Field(default="running", max_length=16)
    message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class AuditLog(SQLModel, table=True):
    """Who did what, when and from where; written for every change a person or job makes."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_target", "target"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    actor: str = Field(max_length=320)
    action: str = Field(max_length=64)
    target: str = Field(max_length=1024)
    origin: str = Field(default="", max_length=64)
    details: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))


class Delivery(SQLModel, table=True):
    """A message the bot sends at most once per (kind, scope, period), claimed before sending.

    A claim whose send never completed (crash) can be taken over after its lease expires.
    """

    __tablename__ = "delivery"
    __table_args__ = (UniqueConstraint("kind", "scope", "period", name="uq_delivery"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    scope: str = Field(max_length=512)
    period: str = Field(max_length=64)
    claimed_by: str = Field(max_length=128)
    claimed_at: datetime
    sent_at: datetime | None = None
    outcome: str = Field(default="", max_length=64)


class ProcessedEvent(SQLModel, table=True):
    """Inbound events already handled (Slack event_id, webhook deliveries): dedupe on retries."""

    __tablename__ = "processed_event"

    source: str = Field(primary_key=True, max_length=32)
    event_id: str = Field(primary_key=True, max_length=256)
    received_at: datetime


class Anomaly(SQLModel, table=True):
    """A detected cost anomaly episode of one scope (team:web, service:BigQuery, ...)."""

    __tablename__ = "anomaly"
    __table_args__ = (UniqueConstraint("series", "day", name="uq_anomaly_series_day"),
                      Index("ix_anomaly_status", "status"))

    id: int | None = Field(default=None, primary_key=True)
    series: str = Field(max_length=1100)  # "<dimension>:<key>"
    day: date
    expected: float
    actual: float
    impact: float
    impact_pct: float
    score: float
    currency: str = Field(default="USD", max_length=8)
    causes: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    status: str = Field(default="open", max_length=16)  # open | acknowledged | expected
    feedback_by: str | None = Field(default=None, max_length=320)
    feedback_at: datetime | None = None
    created_at: datetime


class Snooze(SQLModel, table=True):
    """A scope whose anomaly alerts stay quiet until ``until``."""

    __tablename__ = "snooze"

    series: str = Field(primary_key=True, max_length=1100)
    until: datetime
    set_by: str = Field(max_length=320)


class Saving(SQLModel, table=True):
    """Daily cost a bot action (stop, destroy) avoids from ``since`` on."""

    __tablename__ = "saving"

    id: int | None = Field(default=None, primary_key=True)
    resource_id: str = Field(max_length=1024)
    action: str = Field(max_length=32)
    daily_cost: float
    currency: str = Field(default="USD", max_length=8)
    since: datetime
    owner: str | None = Field(default=None, max_length=320)
    team: str | None = Field(default=None, max_length=128)


class Lifecycle(SQLModel, table=True):
    """One resource's TTL workflow: active -> warned -> (due) -> done, or exempt.

    ``next_at`` is when the sweeper must look at it again (indexed: the sweep reads only the
    rows that are due). A step is claimed (``claimed_by``/``claimed_at``, a lease) before it
    is carried out, so a crash, a restart or a second replica never runs it twice.
    """

    __tablename__ = "lifecycle"
    __table_args__ = (Index("ix_lifecycle_next_at", "next_at"),)

    resource_id: str = Field(primary_key=True, max_length=1024)
    expires_at: datetime | None = None
    source: str = Field(default="", max_length=300)
    action: str = Field(default="notify", max_length=32)
    policy: str | None = Field(default=None, max_length=128)
    warn_before_s: int = 86400
    grace_s: int = 86400
    state: str = Field(default="active", max_length=16)
    next_at: datetime | None = None
    warned_at: datetime | None = None
    notified_at: datetime | None = None
    outcome: str = Field(default="", max_length=200)
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_at: datetime | None = None
    attempts: int = 0
    last_error: str = Field(default="", max_length=500)
    version: int = 0
    updated_at: datetime


class TtlOverride(SQLModel, table=True):
    """An expiry set from Slack (``extend R``, the Extend buttons); it beats tags and policies."""

    __tablename__ = "ttl_override"

    resource_id: str = Field(primary_key=True, max_length=1024)
    expires_at: datetime | None = None
    set_by: str = Field(max_length=320)
    set_at: datetime
    reason: str = Field(default="", max_length=500)


class Exemption(SQLModel, table=True):
    """A request that a resource be left alone, and the team manager's answer."""

    __tablename__ = "exemption"
    __table_args__ = (Index("ix_exemption_resource", "resource_id"),)

    id: int | None = Field(default=None, primary_key=True)
    resource_id: str = Field(max_length=1024)
    requested_by: str = Field(max_length=320)
    reason: str = Field(default="", max_length=500)
    status: str = Field(default="pending", max_length=16)  # pending | approved | denied
    requested_at: datetime
    decided_by: str | None = Field(default=None, max_length=320)
    decided_at: datetime | None = None


class Control(SQLModel, table=True):
    """Switches set at run time (``pause-actions``), shared by every replica."""

    __tablename__ = "control"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=200)
    set_by: str = Field(max_length=320)
    set_at: datetime


class PowerSkip(SQLModel, table=True):
    """"Keep running tonight": one resource skips one night's scheduled stop, with a reason."""

    __tablename__ = "power_skip"
    __table_args__ = (
        UniqueConstraint("schedule", "resource_id", "night", name="uq_power_skip"),
    )

    id: int | None = Field(default=None, primary_key=True)
    schedule: str = Field(max_length=128)
    resource_id: str = Field(max_length=1024)
    night: date  # the local date of the evening whose stop is skipped
    reason: str = Field(max_length=500)
    set_by: str = Field(max_length=320)
    set_at: datetime


class SchedulerLeader(SQLModel, table=True):
    """Which process runs the scheduler (the holder of the leader lock) and since when."""

    __tablename__ = "scheduler_leader"

    name: str = Field(primary_key=True, max_length=64)
    worker: str = Field(max_length=128)
    since: datetime


class JobRun(SQLModel, table=True):
    """One run of a job: a run without ``finished_at`` whose worker died is run again."""

    __tablename__ = "job_run"
    __table_args__ = (Index("ix_job_run_open", "worker", "finished_at"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=64)
    worker: str = Field(max_length=128)
    started_at: datetime
    finished_at: datetime | None = None
    outcome: str = Field(default="", max_length=200)
