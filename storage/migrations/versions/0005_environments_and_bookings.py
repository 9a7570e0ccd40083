"""environments and bookings: environment_state, booking, booking_queue, booking_event

Revision ID: 0005
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "booking",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("env", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("holder_user_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("ticket", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("ended_by", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("end_reason", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("expected_cost", sa.Text(), nullable=False),
        sa.Column("actual_cost", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.create_index("ix_booking_env_started", ["env", "started_at"], unique=False)
        batch_op.create_index("ix_booking_ticket", ["ticket"], unique=False)
        batch_op.create_index(
            "uq_booking_open_env", ["env"], unique=True,
            sqlite_where=sa.text("ended_at IS NULL"), postgresql_where=sa.text("ended_at IS NULL"),
        )

    op.create_table(
        "booking_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("env", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("processed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("booking_event", schema=None) as batch_op:
        batch_op.create_index("ix_booking_event_processed", ["processed_at"], unique=False)

    op.create_table(
        "booking_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("env", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("env", "email", name="uq_booking_queue_env_email"),
    )
    op.create_table(
        "environment_state",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("booking_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("environment_state")
    op.drop_table("booking_queue")
    with op.batch_alter_table("booking_event", schema=None) as batch_op:
        batch_op.drop_index("ix_booking_event_processed")
    op.drop_table("booking_event")
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.drop_index("uq_booking_open_env")
        batch_op.drop_index("ix_booking_ticket")
        batch_op.drop_index("ix_booking_env_started")
    op.drop_table("booking")
