"""network: subnet pools (Neutron's subnet_allocation and default-subnetpools), the pool of a subnet, and RBAC
policies on networks

New table ``subnetpools`` (one ``is_default`` pool per IP version: a partial unique index); ``subnets`` gets
``subnetpool_id`` (RESTRICT: a pool with subnets is not deleted). New table ``network_rbacs`` (Neutron's
rbac-policies on networks: access_as_shared, access_as_external). ``ports`` gets ``extra_dhcp_opts``.

Revision ID: 0032_network_conformance
Revises: 0031_identity_ldap
Create Date: 2026-12-07 01:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0032_network_conformance"
down_revision = "0031_identity_ldap"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subnetpools",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("ip_version", sa.Integer(), nullable=False),
        sa.Column("prefixes", sa.JSON(), nullable=False),
        sa.Column("default_prefixlen", sa.Integer(), nullable=False),
        sa.Column("min_prefixlen", sa.Integer(), nullable=False),
        sa.Column("max_prefixlen", sa.Integer(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subnetpools")),
    )
    with op.batch_alter_table("subnetpools", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subnetpools_project_id"), ["project_id"], unique=False)
        batch_op.create_index(
            "uq_subnetpools_default_per_version",
            ["ip_version"],
            unique=True,
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        )
    with op.batch_alter_table("subnets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subnetpool_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_subnets_subnetpool_id"), ["subnetpool_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_subnets_subnetpool_id_subnetpools"),
            "subnetpools",
            ["subnetpool_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    op.create_table(
        "network_rbacs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target_tenant", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["object_id"], ["networks.id"], name=op.f("fk_network_rbacs_object_id_networks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_rbacs")),
        sa.UniqueConstraint(
            "object_id", "action", "target_tenant", name=op.f("uq_network_rbacs_object_id_action_target_tenant")
        ),
    )
    with op.batch_alter_table("network_rbacs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_network_rbacs_object_id"), ["object_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_network_rbacs_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_network_rbacs_target_tenant"), ["target_tenant"], unique=False)
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("extra_dhcp_opts", sa.JSON(), server_default="[]", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.drop_column("extra_dhcp_opts")
    op.drop_table("network_rbacs")
    with op.batch_alter_table("subnets", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_subnets_subnetpool_id_subnetpools"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_subnets_subnetpool_id"))
        batch_op.drop_column("subnetpool_id")
    with op.batch_alter_table("subnetpools", schema=None) as batch_op:
        batch_op.drop_index("uq_subnetpools_default_per_version")
        batch_op.drop_index(batch_op.f("ix_subnetpools_project_id"))
    op.drop_table("subnetpools")
