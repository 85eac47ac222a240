"""compute: what shelve, soft delete and lock with a reason keep of a server

Revision ID: 0029_compute_server_states
Revises: 0028_identity_password_policy
Create Date: 2026-12-07 00:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0029_compute_server_states"
down_revision = "0028_identity_password_policy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("locked_reason", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("shelved_image_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("shelved_at", common.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("soft_deleted_at", common.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("soft_deleted_at")
        batch.drop_column("shelved_at")
        batch.drop_column("shelved_image_id")
        batch.drop_column("locked_reason")
