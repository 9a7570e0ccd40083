"""lifecycle, ttl_override, exemption, control, power_skip: TTL workflows, power schedules

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "lifecycle",
        sa.Column("resource_id", _STR(length=1024), nullable=False),
        sa.Column("expires_at", _TIME(), nullable=True),
        sa.Column("source", _STR(length=300), nullable=False),
        sa.Column("action", _STR(length=32), nullable=False),
        sa.Column("policy", _STR(length=128), nullable=True),
        sa.Column("warn_before_s", sa.Integer(), nullable=False),
        sa.Column("grace_s", sa.Integer(), nullable=False),
        sa.Column("state", _STR(length=16), nullable=False),
        sa.Column("next_at", _TIME(), nullable=True),
        sa.Column("warned_at", _TIME(), nullable=True),
        sa.Column("notified_at", _TIME(), nullable=True),
        sa.Column("outcome", _STR(length=200), nullable=False),
        sa.Column("claimed_by", _STR(length=128), nullable=True),
        sa.Column("claimed_at", _TIME(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", _STR(length=500), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("resource_id"),
    )
    op.create_index("ix_lifecycle_next_at", "lifecycle", ["next_at"])
    op.create_table(
        "ttl_override",
        sa.Column("resource_id", _STR(length=1024), nullable=False),
        sa.Column("expires_at", _TIME(), nullable=True),
        sa.Column("set_by", _STR(length=320), nullable=False),
        sa.Column("set_at", _TIME(), nullable=False),
        sa.Column("reason", _STR(length=500), nullable=False),
        sa.PrimaryKeyConstraint("resource_id"),
    )
    op.create_table(
        "exemption",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", _STR(length=1024), nullable=False),
        sa.Column("requested_by", _STR(length=320), nullable=False),
        sa.Column("reason", _STR(length=500), nullable=False),
        sa.Column("status", _STR(length=16), nullable=False),
        sa.Column("requested_at", _TIME(), nullable=False),
        sa.Column("decided_by", _STR(length=320), nullable=True),
        sa.Column("decided_at", _TIME(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_exemption_resource", "exemption", ["resource_id"])
    op.create_table(
        "control",
        sa.Column("key", _STR(length=64), nullable=False),
        sa.Column("value", _STR(length=200), nullable=False),
        sa.Column("set_by", _STR(length=320), nullable=False),
        sa.Column("set_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )

    op.create_table(
        "power_skip",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule", _STR(length=128), nullable=False),
        sa.Column("resource_id", _STR(length=1024), nullable=False),
        sa.Column("night", sa.Date(), nullable=False),
        sa.Column("reason", _STR(length=500), nullable=False),
        sa.Column("set_by", _STR(length=320), nullable=False),
        sa.Column("set_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule", "resource_id", "night", name="uq_power_skip"),
    )


def downgrade() -> None:
    op.drop_table("power_skip")
    op.drop_table("control")
    op.drop_index("ix_exemption_resource", table_name="exemption")
    op.drop_table("exemption")
    op.drop_table("ttl_override")
    op.drop_index("ix_lifecycle_next_at", table_name="lifecycle")
    op.drop_table("lifecycle")
