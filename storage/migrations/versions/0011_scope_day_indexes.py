"""cost_scope_daily: indexes on (team, day) and (owner, day) for one scope's recent days

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cost_scope_daily_team_day", "cost_scope_daily", ["team", "day"])
    op.create_index("ix_cost_scope_daily_owner_day", "cost_scope_daily", ["owner", "day"])


def downgrade() -> None:
    op.drop_index("ix_cost_scope_daily_owner_day", table_name="cost_scope_daily")
    op.drop_index("ix_cost_scope_daily_team_day", table_name="cost_scope_daily")
