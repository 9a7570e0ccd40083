"""deploy: deploys reported by GitHub, GitLab and Jenkins webhooks

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deploy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("env", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("env_given", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("known_env", sa.Boolean(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("sha", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("ref", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("repo", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column("deployer", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("deployer_email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
        sa.Column("commit_url", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True),
        sa.Column("environment_url", sqlmodel.sql.sqltypes.AutoString(length=2048),
                  nullable=True),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("effects_pending", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "external_id", name="uq_deploy_source_external"),
    )
    with op.batch_alter_table("deploy", schema=None) as batch_op:
        batch_op.create_index("ix_deploy_effects_pending", ["effects_pending"], unique=False)
        batch_op.create_index("ix_deploy_env_started", ["env", "started_at"], unique=False)
        batch_op.create_index("ix_deploy_repo_sha", ["repo", "sha"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deploy", schema=None) as batch_op:
        batch_op.drop_index("ix_deploy_repo_sha")
        batch_op.drop_index("ix_deploy_env_started")
        batch_op.drop_index("ix_deploy_effects_pending")
    op.drop_table("deploy")
