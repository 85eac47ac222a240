"""network: QoS policies and bandwidth-limit rules (Neutron's qos, qos-bw-limit-direction, qos-default)

New tables ``qos_policies`` (one ``is_default`` policy per project: a partial unique index) and
``qos_bandwidth_limit_rules`` (one per direction per policy; they go with their policy). ``ports`` and
``networks`` get ``qos_policy_id`` (RESTRICT: a policy in use is not deleted).

Revision ID: 0034_network_qos
Revises: 0033_compute_scheduler_hints
Create Date: 2026-12-07 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0034_network_qos"
down_revision = "0033_compute_scheduler_hints"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qos_policies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qos_policies")),
    )
    with op.batch_alter_table("qos_policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qos_policies_project_id"), ["project_id"], unique=False)
        batch_op.create_index(
            "uq_qos_policies_default_per_project",
            ["project_id"],
            unique=True,
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        )
    op.create_table(
        "qos_bandwidth_limit_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("qos_policy_id", sa.String(length=36), nullable=False),
        sa.Column("max_kbps", sa.Integer(), nullable=False),
        sa.Column("max_burst_kbps", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["qos_policy_id"],
            ["qos_policies.id"],
            name=op.f("fk_qos_bandwidth_limit_rules_qos_policy_id_qos_policies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qos_bandwidth_limit_rules")),
        sa.UniqueConstraint(
            "qos_policy_id", "direction", name=op.f("uq_qos_bandwidth_limit_rules_qos_policy_id_direction")
        ),
    )
    with op.batch_alter_table("qos_bandwidth_limit_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qos_bandwidth_limit_rules_qos_policy_id"), ["qos_policy_id"], unique=False)
    for table in ("ports", "networks"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("qos_policy_id", sa.String(length=36), nullable=True))
            batch_op.create_index(batch_op.f(f"ix_{table}_qos_policy_id"), ["qos_policy_id"], unique=False)
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_qos_policy_id_qos_policies"),
                "qos_policies",
                ["qos_policy_id"],
                ["id"],
                ondelete="RESTRICT",
            )


def downgrade() -> None:
    for table in ("networks", "ports"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_qos_policy_id_qos_policies"), type_="foreignkey")
            batch_op.drop_index(batch_op.f(f"ix_{table}_qos_policy_id"))
            batch_op.drop_column("qos_policy_id")
    with op.batch_alter_table("qos_bandwidth_limit_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qos_bandwidth_limit_rules_qos_policy_id"))
    op.drop_table("qos_bandwidth_limit_rules")
    with op.batch_alter_table("qos_policies", schema=None) as batch_op:
        batch_op.drop_index("uq_qos_policies_default_per_project")
        batch_op.drop_index(batch_op.f("ix_qos_policies_project_id"))
    op.drop_table("qos_policies")
