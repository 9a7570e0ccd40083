"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL, and
the ones that reshape a table keep its rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

# importing the table modules registers their tables on SQLModel.metadata
import storage.models  # noqa: F401
import storage.models_envs  # noqa: F401
from handlers.scheduler import JOBSTORE_TABLE
from storage.db import alembic_config, make_engine, upgrade


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    # the scheduler's job store table is APScheduler's, created by our migration 0003
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name == JOBSTORE_TABLE)
            and not (d[0] == "remove_index" and d[1].table.name == JOBSTORE_TABLE)]
    assert diff == []


@pytest.fixture
def scratch(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of the test run's kind: a file on SQLite, a schema on PostgreSQL."""
    if engine.dialect.name != "postgresql":
        scratch = make_engine(f"sqlite:///{tmp_path / 'scratch.db'}")
        yield scratch
        scratch.dispose()
        return
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS migration_scratch CASCADE"))
        conn.execute(text("CREATE SCHEMA migration_scratch"))
    url = engine.url.update_query_dict({"options": "-csearch_path=migration_scratch"})
    scratch = make_engine(url.render_as_string(hide_password=False))
    yield scratch
    scratch.dispose()
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA migration_scratch CASCADE"))


def _cost_rows(engine: Engine) -> list[tuple[str, str, float]]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT resource_id, CAST(day AS VARCHAR(10)), effective_cost FROM cost_daily "
            "ORDER BY resource_id, day"))  # fmt: skip
        return [(r[0], r[1], r[2]) for r in rows]


def _add_cost(engine: Engine, resource: str, day: str, cost: float) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO cost_daily (day, resource_id, provider, billing_account_id, "
                "sub_account_id, sub_account_name, service, region, resource_name, "
                "resource_type, currency, billed_cost, effective_cost, list_cost) VALUES "
                "(:day, :resource, 'aws', '111', '111', '', 'EC2', '', '', '', 'USD', "
                ":cost, :cost, :cost)"
            ),
            {"day": date.fromisoformat(day), "resource": resource, "cost": cost},
        )


def test_rekeying_cost_daily_keeps_its_rows_and_their_uniqueness_both_ways(scratch: Engine) -> None:
    upgrade(scratch, "0012")
    _add_cost(scratch, "i-2", "2024-09-01", 2.0)
    _add_cost(scratch, "i-1", "2024-09-02", 1.5)
    _add_cost(scratch, "i-1", "2024-09-01", 1.0)
    before = _cost_rows(scratch)

    upgrade(scratch, "0013")
    assert _cost_rows(scratch) == before
    schema = inspect(scratch)
    (key,) = schema.get_unique_constraints("cost_daily")
    assert key["column_names"] == ["resource_id", "day", "provider", "billing_account_id",
                                   "currency"]  # fmt: skip
    assert "ix_cost_daily_resource_day" not in {i["name"] for i in schema.get_indexes("cost_daily")}
    with pytest.raises(IntegrityError):
        _add_cost(scratch, "i-1", "2024-09-02", 9.0)

    command.downgrade(alembic_config(scratch), "0012")
    assert _cost_rows(scratch) == before
    schema = inspect(scratch)
    (key,) = schema.get_unique_constraints("cost_daily")
    assert key["column_names"] == ["provider", "billing_account_id", "day", "resource_id",
                                   "currency"]  # fmt: skip
    assert "ix_cost_daily_resource_day" in {i["name"] for i in schema.get_indexes("cost_daily")}
    with pytest.raises(IntegrityError):
        _add_cost(scratch, "i-2", "2024-09-01", 9.0)
