"""compute: moves of servers between hosts (``migrations``: cold and live migration, cross-host resize, evacuation)

Revision ID: 0036_compute_migrations
Revises: 0035_image_tasks
Create Date: 2026-12-07 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0036_compute_migrations"
down_revision = "0035_image_tasks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "migrations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("migration_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source_compute", sa.String(length=255), nullable=True),
        sa.Column("dest_compute", sa.String(length=255), nullable=True),
        sa.Column("dest_host", sa.String(length=64), nullable=True),
        sa.Column("old_flavor_id", sa.String(length=255), nullable=True),
        sa.Column("new_flavor_id", sa.String(length=255), nullable=True),
        sa.Column("block_migration", sa.Boolean(), nullable=False),
        sa.Column("memory_total", sa.BigInteger(), nullable=False),
        sa.Column("memory_processed", sa.BigInteger(), nullable=False),
        sa.Column("memory_remaining", sa.BigInteger(), nullable=False),
        sa.Column("disk_total", sa.BigInteger(), nullable=False),
        sa.Column("disk_processed", sa.BigInteger(), nullable=False),
        sa.Column("disk_remaining", sa.BigInteger(), nullable=False),
        sa.Column("downtime_ms", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    op.create_index("ix_migrations_instance_status", "migrations", ["instance_id", "status"])
    op.create_index("ix_migrations_status", "migrations", ["status"])


def downgrade() -> None:
    op.drop_index("ix_migrations_status", table_name="migrations")
    op.drop_index("ix_migrations_instance_status", table_name="migrations")
    op.drop_table("migrations")
