"""volumes: volume types (and the projects of private ones), volumes, snapshots, attachments, backups (issue 14)

Revision ID: 0015_volumes
Revises: 0014_routers
Create Date: 2026-12-06 14:12:54.452303
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0015_volumes"
down_revision = "0014_routers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "volume_backups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("volume_id", sa.String(length=36), nullable=False),
        sa.Column("snapshot_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("fail_reason", sa.String(length=1024), nullable=True),
        sa.Column("is_incremental", sa.Boolean(), nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("container", sa.String(length=255), nullable=True),
        sa.Column("location", sa.String(length=255), nullable=True),
        sa.Column("checkpoint", sa.String(length=255), nullable=True),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=False),
        sa.Column("object_count", sa.Integer(), nullable=False),
        sa.Column("data_timestamp", common.db.UTCDateTime(), nullable=True),
        sa.Column("availability_zone", sa.String(length=255), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("restore_volume_id", sa.String(length=36), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", common.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["volume_backups.id"], name=op.f("fk_volume_backups_parent_id_volume_backups")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volume_backups")),
    )
    with op.batch_alter_table("volume_backups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_volume_backups_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index("ix_volume_backups_project_usage", ["project_id", "deleted", "size"], unique=False)
        batch_op.create_index(batch_op.f("ix_volume_backups_volume_id"), ["volume_id"], unique=False)

    op.create_table(
        "volume_types",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("extra_specs", sa.JSON(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volume_types")),
        sa.UniqueConstraint("name", name=op.f("uq_volume_types_name")),
    )
    op.create_table(
        "volume_type_projects",
        sa.Column("volume_type_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["volume_type_id"],
            ["volume_types.id"],
            name=op.f("fk_volume_type_projects_volume_type_id_volume_types"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("volume_type_id", "project_id", name=op.f("pk_volume_type_projects")),
    )
    op.create_table(
        "volumes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("extending_to", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("previous_status", sa.String(length=24), nullable=True),
        sa.Column("volume_type_id", sa.String(length=36), nullable=False),
        sa.Column("availability_zone", sa.String(length=255), nullable=False),
        sa.Column("bootable", sa.Boolean(), nullable=False),
        sa.Column("multiattach", sa.Boolean(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("image_metadata", sa.JSON(), nullable=False),
        sa.Column("source_volid", sa.String(length=36), nullable=True),
        sa.Column("snapshot_id", sa.String(length=36), nullable=True),
        sa.Column("image_id", sa.String(length=36), nullable=True),
        sa.Column("backup_id", sa.String(length=36), nullable=True),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("location", sa.String(length=255), nullable=True),
        sa.Column("error", sa.String(length=1024), nullable=True),
        sa.Column("consumes_quota", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", common.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["volume_type_id"], ["volume_types.id"], name=op.f("fk_volumes_volume_type_id_volume_types")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volumes")),
    )
    with op.batch_alter_table("volumes", schema=None) as batch_op:
        batch_op.create_index("ix_volumes_project_usage", ["project_id", "deleted", "size"], unique=False)

    op.create_table(
        "volume_attachments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("volume_id", sa.String(length=36), nullable=False),
        sa.Column("instance_uuid", sa.String(length=36), nullable=False),
        sa.Column("attached_host", sa.String(length=255), nullable=True),
        sa.Column("mountpoint", sa.String(length=32), nullable=True),
        sa.Column("attach_status", sa.String(length=24), nullable=False),
        sa.Column("attach_mode", sa.String(length=4), nullable=False),
        sa.Column("connector", sa.JSON(), nullable=True),
        sa.Column("connection_info", sa.JSON(), nullable=True),
        sa.Column("attach_time", common.db.UTCDateTime(), nullable=True),
        sa.Column("detach_time", common.db.UTCDateTime(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["volume_id"], ["volumes.id"], name=op.f("fk_volume_attachments_volume_id_volumes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volume_attachments")),
    )
    with op.batch_alter_table("volume_attachments", schema=None) as batch_op:
        batch_op.create_index("ix_volume_attachments_instance", ["instance_uuid", "deleted"], unique=False)
        batch_op.create_index(batch_op.f("ix_volume_attachments_volume_id"), ["volume_id"], unique=False)

    op.create_table(
        "volume_snapshots",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("volume_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("progress", sa.String(length=8), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("location", sa.String(length=255), nullable=True),
        sa.Column("error", sa.String(length=1024), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", common.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["volume_id"], ["volumes.id"], name=op.f("fk_volume_snapshots_volume_id_volumes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volume_snapshots")),
    )
    with op.batch_alter_table("volume_snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_volume_snapshots_project_usage", ["project_id", "deleted", "size"], unique=False)
        batch_op.create_index(batch_op.f("ix_volume_snapshots_volume_id"), ["volume_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("volume_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_volume_snapshots_volume_id"))
        batch_op.drop_index("ix_volume_snapshots_project_usage")

    op.drop_table("volume_snapshots")
    with op.batch_alter_table("volume_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_volume_attachments_volume_id"))
        batch_op.drop_index("ix_volume_attachments_instance")

    op.drop_table("volume_attachments")
    with op.batch_alter_table("volumes", schema=None) as batch_op:
        batch_op.drop_index("ix_volumes_project_usage")

    op.drop_table("volumes")
    op.drop_table("volume_type_projects")
    op.drop_table("volume_types")
    with op.batch_alter_table("volume_backups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_volume_backups_volume_id"))
        batch_op.drop_index("ix_volume_backups_project_usage")
        batch_op.drop_index(batch_op.f("ix_volume_backups_parent_id"))

    op.drop_table("volume_backups")
