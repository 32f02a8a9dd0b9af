"""fleet mode: stats subscriptions across replicas

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 22:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Created on SQLite too (one schema everywhere), where nothing uses it.
    op.create_table(
        "stats_subscriptions",
        sa.Column("replica_id", sa.String(length=64), nullable=False),
        sa.Column("host_id", sa.String(length=255), nullable=False),
        sa.Column("vm_name", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"],
            ["hosts.id"],
            name=op.f("fk_stats_subscriptions_host_id_hosts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "replica_id", "host_id", "vm_name", name=op.f("pk_stats_subscriptions")
        ),
    )
    with op.batch_alter_table("stats_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stats_subscriptions_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("stats_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stats_subscriptions_expires_at"))
    op.drop_table("stats_subscriptions")
