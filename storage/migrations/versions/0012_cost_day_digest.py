"""cost_day_digest: a digest per (provider, billing account, day) to skip unchanged days

A re-ingest leaves a day whose new rows have the same digest as they are.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "cost_day_digest",
        sa.Column("provider", _STR(length=64), nullable=False),
        sa.Column("billing_account_id", _STR(length=256), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("digest", _STR(length=64), nullable=False),
        sa.PrimaryKeyConstraint("provider", "billing_account_id", "day"),
    )


def downgrade() -> None:
    op.drop_table("cost_day_digest")
