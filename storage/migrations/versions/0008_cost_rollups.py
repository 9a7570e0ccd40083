"""cost_scope_daily and resource_recent_cost: rollups of cost_daily for digests

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cost_scope_daily",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("team", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("service", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("billed_cost", sa.Float(), nullable=False),
        sa.Column("effective_cost", sa.Float(), nullable=False),
        sa.Column("list_cost", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("day", "team", "owner", "service", "currency",
                            name="uq_cost_scope_daily"),
    )
    op.create_index("ix_cost_scope_daily_team_owner", "cost_scope_daily", ["team", "owner"])
    op.create_table(
        "resource_recent_cost",
        sa.Column("resource_id", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("billed_week", sa.Float(), nullable=False),
        sa.Column("effective_week", sa.Float(), nullable=False),
        sa.Column("list_week", sa.Float(), nullable=False),
        sa.Column("billed_before", sa.Float(), nullable=False),
        sa.Column("effective_before", sa.Float(), nullable=False),
        sa.Column("list_before", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("resource_id", "currency"),
    )
    # the rollup of costs already stored; the recent snapshot is made by the next ingest
    op.execute(
        "INSERT INTO cost_scope_daily "
        "(day, team, owner, service, currency, billed_cost, effective_cost, list_cost) "
        "SELECT c.day, coalesce(r.team, 'unowned'), coalesce(r.owner, 'unowned'), c.service, "
        "c.currency, sum(c.billed_cost), sum(c.effective_cost), sum(c.list_cost) "
        "FROM cost_daily c LEFT JOIN resource r ON r.resource_id = c.resource_id "
        "GROUP BY c.day, coalesce(r.team, 'unowned'), coalesce(r.owner, 'unowned'), "
        "c.service, c.currency"
    )


def downgrade() -> None:
    op.drop_table("resource_recent_cost")
    op.drop_index("ix_cost_scope_daily_team_owner", table_name="cost_scope_daily")
    op.drop_table("cost_scope_daily")
