"""SQLModel tables. Every schema change also gets an Alembic migration (storage/migrations)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class CostDaily(SQLModel, table=True):
    """One resource's cost on one UTC day in one currency (FOCUS names in snake case)."""

    __tablename__ = "cost_daily"
    __table_args__ = (
        UniqueConstraint(
            "provider", "billing_account_id", "day", "resource_id", "currency",
            name="uq_cost_daily_row",
        ),
        Index("ix_cost_daily_day", "day"),
        Index("ix_cost_daily_resource_day", "resource_id", "day"),
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
