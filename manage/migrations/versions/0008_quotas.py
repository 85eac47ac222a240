"""quotas: per-project and default-class limits, the rows quota checks lock, and each instance's counted
cores and RAM (backfilled from its flavors) under an index that covers a project's usage

Revision ID: 0008_quotas
Revises: 0007_network_hosts
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0008_quotas"
down_revision = "0007_network_hosts"
branch_labels = None
depends_on = None


def _counted(flavor: dict | None, old_flavor: dict | None) -> tuple[int, int]:
    """As ``compute.models.counted_resources`` (copied: a migration must not change when the code does)."""
    flavors = [f for f in (flavor, old_flavor) if f]
    return (
        max((int(f.get("vcpus", 0)) for f in flavors), default=0),
        max((int(f.get("ram", 0)) for f in flavors), default=0),
    )


def _backfill() -> None:
    instances = sa.table(
        "instances",
        sa.column("id", sa.String),
        sa.column("flavor", sa.JSON),
        sa.column("old_flavor", sa.JSON),
        sa.column("quota_vcpus", sa.Integer),
        sa.column("quota_memory_mb", sa.Integer),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(instances.c.id, instances.c.flavor, instances.c.old_flavor)).all()
    for instance_id, flavor, old_flavor in rows:
        vcpus, memory_mb = _counted(flavor, old_flavor)
        connection.execute(
            instances.update().where(instances.c.id == instance_id).values(quota_vcpus=vcpus, quota_memory_mb=memory_mb)
        )


def upgrade() -> None:
    op.create_table(
        "quota_limits",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("hard_limit", sa.BigInteger(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("project_id", "resource", name=op.f("pk_quota_limits")),
    )
    op.create_table(
        "quota_class_limits",
        sa.Column("class_name", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("hard_limit", sa.BigInteger(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("class_name", "resource", name=op.f("pk_quota_class_limits")),
    )
    op.create_table(
        "quota_locks",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_quota_locks")),
    )
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quota_vcpus", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("quota_memory_mb", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("build_failed", sa.Boolean(), nullable=False, server_default=sa.false()))
    _backfill()
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_index("ix_instances_project_deleted")
        batch_op.create_index(
            "ix_instances_project_usage",
            ["project_id", "deleted", "build_failed", "task_state", "quota_vcpus", "quota_memory_mb"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_index("ix_instances_project_usage")
        batch_op.create_index("ix_instances_project_deleted", ["project_id", "deleted"], unique=False)
        batch_op.drop_column("build_failed")
        batch_op.drop_column("quota_memory_mb")
        batch_op.drop_column("quota_vcpus")
    op.drop_table("quota_locks")
    op.drop_table("quota_class_limits")
    op.drop_table("quota_limits")
