"""image: Glance's tasks (``/v2/tasks``), the ``import`` of image data from a web source

New table ``image_tasks``: a task's type, status, owner, input, result and message, the image it made, and when
it expires (set when it ends; the image service's sweeper removes it then).

Revision ID: 0035_image_tasks
Revises: 0034_network_qos
Create Date: 2026-12-07 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0035_image_tasks"
down_revision = "0034_network_qos"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_tasks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("input", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("image_id", sa.String(length=36), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("expires_at", common.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_tasks")),
    )
    with op.batch_alter_table("image_tasks", schema=None) as batch_op:
        batch_op.create_index("ix_image_tasks_owner_created_at", ["owner", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_image_tasks_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_image_tasks_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("image_tasks")
