"""SQLModel tables of shared environments: who holds each one, bookings, the waiting queue, the
booking outbox and deploys. Every schema change also gets an Alembic migration."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class EnvironmentState(SQLModel, table=True):
    """Who holds each configured environment now: one row per environment name.

    A booking takes the row with one conditional UPDATE (free or expired -> this booking), so
    two concurrent bookings of one environment can never both succeed.
    """

    __tablename__ = "environment_state"

    name: str = Field(primary_key=True, max_length=128)
    booking_id: str | None = Field(default=None, max_length=36)
    holder: str | None = Field(default=None, max_length=320)
    until: datetime | None = None


class Booking(SQLModel, table=True):
    """One booking of a shared environment (history included); ``ended_at`` None: current."""

    __tablename__ = "booking"
    __table_args__ = (
        Index("ix_booking_env_started", "env", "started_at"),
        Index("ix_booking_ticket", "ticket"),
        # a second guard beside environment_state: one open booking per environment
        Index("uq_booking_open_env", "env", unique=True,
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
    )

    id: str = Field(primary_key=True, max_length=36)
    env: str = Field(max_length=128)
    holder: str = Field(max_length=320)
    holder_user_id: str | None = Field(default=None, max_length=64)
    ticket: str | None = Field(default=None, max_length=64)
    origin: str = Field(default="", max_length=32)
    started_at: datetime
    until: datetime
    ended_at: datetime | None = None
    ended_by: str | None = Field(default=None, max_length=320)
    end_reason: str | None = Field(default=None, max_length=32)  # released | expired | jira
    expected_cost: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    actual_cost: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))


class BookingQueue(SQLModel, table=True):
    """People waiting for an environment ("notify me when free"), oldest first."""

    __tablename__ = "booking_queue"
    __table_args__ = (UniqueConstraint("env", "email", name="uq_booking_queue_env_email"),)

    id: int | None = Field(default=None, primary_key=True)
    env: str = Field(max_length=128)
    email: str = Field(max_length=320)
    user_id: str | None = Field(default=None, max_length=64)
    created_at: datetime


class BookingEvent(SQLModel, table=True):
    """What happened to a booking, written in the same transaction as the change (an outbox).

    Its effects (channel message, access hooks, Jira comment, DMs) run after the commit, each
    claimed once; ``processed_at`` is set when all of them are done.
    """

    __tablename__ = "booking_event"
    __table_args__ = (Index("ix_booking_event_processed", "processed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    booking_id: str = Field(max_length=36)
    env: str = Field(max_length=128)
    kind: str = Field(max_length=16)  # acquire | extend | release
    at: datetime
    actor: str = Field(max_length=320)
    origin: str = Field(default="", max_length=32)
    details: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    processed_at: datetime | None = None


class Deploy(SQLModel, table=True):
    """One deploy reported by GitHub, GitLab or Jenkins; one row per deploy, updated as its
    status moves (deployment statuses, Jenkins phases).

    ``env`` is the configured environment when the name the CI system used is one
    (``known_env``), else that name as given: deploys to unknown environments are kept and
    shown to admins. ``effects_pending`` is set with every change that has effects to run
    (channel line, warnings, PR comment) and cleared when they ran for that status.
    """

    __tablename__ = "deploy"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_deploy_source_external"),
        Index("ix_deploy_env_started", "env", "started_at"),
        Index("ix_deploy_repo_sha", "repo", "sha"),
        Index("ix_deploy_effects_pending", "effects_pending"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=16)  # github | gitlab | jenkins
    external_id: str = Field(max_length=512)  # the deploy's id at its source
    env: str = Field(max_length=256)
    env_given: str = Field(max_length=256)
    known_env: bool = True
    status: str = Field(max_length=16)  # pending queued running success failure error canceled
    sha: str | None = Field(default=None, max_length=64)
    ref: str | None = Field(default=None, max_length=256)
    version: str | None = Field(default=None, max_length=256)
    repo: str | None = Field(default=None, max_length=512)  # owner/name, group/project, job
    deployer: str = Field(max_length=320)  # login or user name as the source gave it
    deployer_email: str | None = Field(default=None, max_length=320)
    title: str | None = Field(default=None, max_length=512)  # commit title; "" when not found
    url: str | None = Field(default=None, max_length=2048)  # the run, job or deployment
    commit_url: str | None = Field(default=None, max_length=2048)
    environment_url: str | None = Field(default=None, max_length=2048)
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    effects_pending: bool = True
