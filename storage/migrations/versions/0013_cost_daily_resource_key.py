"""cost_daily: the unique key led by (resource_id, day) takes the place of ix_cost_daily_resource_day

An ingest writes its rows by resource and then day, so this key is filled in order, and there
is one index fewer to keep up to date. On SQLite the table is copied once: a constraint cannot
be altered there.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _rekey(columns: list[str], index: list[str] | None) -> None:
    with op.batch_alter_table("cost_daily") as batch:
        batch.drop_constraint("uq_cost_daily_row", type_="unique")
        batch.create_unique_constraint("uq_cost_daily_row", columns)
        if index is None:
            batch.drop_index("ix_cost_daily_resource_day")
        else:
            batch.create_index("ix_cost_daily_resource_day", index)


def upgrade() -> None:
    _rekey(["resource_id", "day", "provider", "billing_account_id", "currency"], None)


def downgrade() -> None:
    _rekey(
        ["provider", "billing_account_id", "day", "resource_id", "currency"], ["resource_id", "day"]
    )
