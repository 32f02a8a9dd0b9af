"""fleet mode: replicas and host leases

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 21:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Created on SQLite too (one schema everywhere), where nothing uses them.
    op.create_table(
        "replicas",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replicas")),
    )
    op.create_table(
        "host_leases",
        sa.Column("host_id", sa.String(length=255), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"],
            ["hosts.id"],
            name=op.f("fk_host_leases_host_id_hosts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("host_id", name=op.f("pk_host_leases")),
    )
    with op.batch_alter_table("host_leases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_host_leases_owner"), ["owner"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("host_leases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_host_leases_owner"))
    op.drop_table("host_leases")
    op.drop_table("replicas")
