"""scheduler_leader and job_run: one scheduler among replicas, interrupted runs re-run

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "scheduler_leader",
        sa.Column("name", _STR(length=64), nullable=False),
        sa.Column("worker", _STR(length=128), nullable=False),
        sa.Column("since", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", _STR(length=64), nullable=False),
        sa.Column("worker", _STR(length=128), nullable=False),
        sa.Column("started_at", _TIME(), nullable=False),
        sa.Column("finished_at", _TIME(), nullable=True),
        sa.Column("outcome", _STR(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_run_open", "job_run", ["worker", "finished_at"])


def downgrade() -> None:
    op.drop_index("ix_job_run_open", table_name="job_run")
    op.drop_table("job_run")
    op.drop_table("scheduler_leader")
