"""compute: a host's fencing (``compute_hosts.fenced_at``, ``fenced_by``): when and how it was known that the
host's guests no longer run, which is what an evacuation of its servers waits for (issue #16)

Revision ID: 0037_compute_host_fencing
Revises: 0036_compute_migrations
Create Date: 2026-12-07 07:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0037_compute_host_fencing"
down_revision = "0036_compute_migrations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("compute_hosts") as batch:
        batch.add_column(sa.Column("fenced_at", common.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("fenced_by", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("compute_hosts") as batch:
        batch.drop_column("fenced_by")
        batch.drop_column("fenced_at")
