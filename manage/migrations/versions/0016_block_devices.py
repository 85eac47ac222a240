"""block device mappings: a server's volumes (attached, or the one it boots from), Nova's fields (issue 14)

Revision ID: 0016_block_devices
Revises: 0015_volumes
Create Date: 2026-12-06 14:15:31.194391
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0016_block_devices"
down_revision = "0015_volumes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "block_device_mappings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("instance_uuid", sa.String(length=36), nullable=False),
        sa.Column("volume_id", sa.String(length=36), nullable=True),
        sa.Column("attachment_id", sa.String(length=36), nullable=True),
        sa.Column("device_name", sa.String(length=32), nullable=True),
        sa.Column("boot_index", sa.Integer(), nullable=True),
        sa.Column("source_type", sa.String(length=16), nullable=False),
        sa.Column("destination_type", sa.String(length=16), nullable=False),
        sa.Column("delete_on_termination", sa.Boolean(), nullable=False),
        sa.Column("volume_size", sa.Integer(), nullable=True),
        sa.Column("image_id", sa.String(length=36), nullable=True),
        sa.Column("snapshot_id", sa.String(length=36), nullable=True),
        sa.Column("disk_bus", sa.String(length=16), nullable=True),
        sa.Column("tag", sa.String(length=60), nullable=True),
        sa.Column("connection_info", sa.JSON(), nullable=True),
        sa.Column("attached", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_uuid"],
            ["instances.id"],
            name=op.f("fk_block_device_mappings_instance_uuid_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_block_device_mappings")),
    )
    with op.batch_alter_table("block_device_mappings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_block_device_mappings_instance_uuid"), ["instance_uuid"], unique=False)
        batch_op.create_index(
            "uq_block_device_mappings_device",
            ["instance_uuid", "device_name"],
            unique=True,
            sqlite_where=sa.text("deleted = 0"),
            postgresql_where=sa.text("deleted = false"),
        )
        batch_op.create_index(
            "uq_block_device_mappings_volume",
            ["volume_id"],
            unique=True,
            sqlite_where=sa.text("deleted = 0"),
            postgresql_where=sa.text("deleted = false"),
        )


def downgrade() -> None:
    with op.batch_alter_table("block_device_mappings", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_block_device_mappings_volume",
            sqlite_where=sa.text("deleted = 0"),
            postgresql_where=sa.text("deleted = false"),
        )
        batch_op.drop_index(
            "uq_block_device_mappings_device",
            sqlite_where=sa.text("deleted = 0"),
            postgresql_where=sa.text("deleted = false"),
        )
        batch_op.drop_index(batch_op.f("ix_block_device_mappings_instance_uuid"))

    op.drop_table("block_device_mappings")
