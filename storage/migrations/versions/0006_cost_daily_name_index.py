"""cost_daily: index on (resource_name, day), for costs of a resource given by its name

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain CREATE INDEX (no batch table copy on SQLite: cost_daily can hold millions of rows)
    op.create_index("ix_cost_daily_name_day", "cost_daily", ["resource_name", "day"])


def downgrade() -> None:
    op.drop_index("ix_cost_daily_name_day", table_name="cost_daily")
