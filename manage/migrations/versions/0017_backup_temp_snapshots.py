"""volume backups: the temporary snapshot an in-use volume is backed up from (Cinder's temp_snapshot_id)

Revision ID: 0017_backup_temp_snapshots
Revises: 0016_block_devices
Create Date: 2026-12-06 17:35:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_backup_temp_snapshots"
down_revision = "0016_block_devices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("volume_backups") as batch:
        batch.add_column(sa.Column("temp_snapshot_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("volume_backups") as batch:
        batch.drop_column("temp_snapshot_id")
