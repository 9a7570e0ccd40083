"""Ingest glue: read a cost source, replace its period, refresh resources, resolve owners.

The source is read and validated completely before anything is written, and the write is one
transaction: a bad file leaves the period's previous data in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from bot import lifecycle_sync
from bot.config import Config
from bot.owners import OwnerMapper
from providers.base import CostBatch, CostSource
from storage import audit, costs, resources, rollup
from storage.db import session_scope
from storage.models import IngestRun


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What one ingest did, for the CLI, the job log and the audit trail."""

    source: str
    lines_read: int
    rows_written: int
    rows_replaced: int
    rows_unchanged: int  # in days whose rows were already stored as they are
    resources: int
    period: tuple[date, date] | None
    owners_changed: int


def reassign_owners(session: Session, *, config: Config) -> int:
    """Resolve owner and team of every resource; returns how many changed."""
    mapper = OwnerMapper.from_config(config)
    stored = resources.all_facts(session)
    assigned = mapper.assign(stored, overrides=resources.overrides(session))
    return resources.save_assignments(
        session, assignments={r.resource_id: a for r, a in zip(stored, assigned, strict=True)}
    )


def store_batch(
    session: Session, batch: CostBatch, *, config: Config, now: datetime
) -> IngestReport:
    """Write one batch inside the caller's transaction.

    Owners are resolved before the costs are replaced: the rollup of the period is then
    computed once, with the new owners, and a resource that changed owner only moves its
    costs of other days between rollup pairs (on a first ingest, none).
    """
    touched = resources.upsert_from_costs(session, rows=batch.rows)
    if batch.inventory:
        touched += resources.upsert_from_inventory(session, items=batch.inventory, today=now.date())
    changed = reassign_owners(session, config=config)
    replaced = costs.replace_costs(session, rows=batch.rows, digests=batch.day_digests)
    lifecycle_sync.sync(session, config=config, now=now)  # new resources, new or changed TTL tags
    # digests run after the ingest and read the last two weeks per resource from this snapshot
    rollup.refresh_recent(session, as_of=now.date() - timedelta(days=1))
    days = [p for span in replaced.periods.values() for p in span]
    period = (min(days), max(days)) if days else None
    session.add(
        IngestRun(
            source=batch.source,
            started_at=now,
            finished_at=now,
            rows_written=replaced.written,
            period_start=period[0] if period else None,
            period_end=period[1] if period else None,
            status="ok",
            message=f"{batch.lines_read} lines read",
        )
    )
    audit.record(
        session,
        actor="finops-bot",
        action="ingest",
        target=batch.source,
        now=now,
        origin="job",
        details={"rows": replaced.written, "replaced": replaced.deleted},
    )
    return IngestReport(
        batch.source, batch.lines_read, replaced.written, replaced.deleted, replaced.kept,
        touched, period, changed,
    )


def ingest(
    engine: Engine,
    source: CostSource,
    *,
    config: Config,
    now: datetime,
    start: date | None = None,
    end: date | None = None,
) -> IngestReport:
    """Fetch from ``source`` (fully validated), then store it atomically."""
    batch = source.fetch(start, end)
    with session_scope(engine) as session:
        return store_batch(session, batch, config=config, now=now)
