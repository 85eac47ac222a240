"""routers and floating IPs; flat external networks (issue 13, item 1)

Networks get ``physical_network`` and may have no VNI (``segmentation_id`` NULL: a flat network on a host
bridge, such as the external network ``public``). New tables: ``routers`` and ``floating_ips``;
network hosts record the routers last pushed to them.

Revision ID: 0014_routers
Revises: 0013_plain_addresses
Create Date: 2026-12-06 10:29:45.430246
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0014_routers"
down_revision = "0013_plain_addresses"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("gateway_network_id", sa.String(length=36), nullable=True),
        sa.Column("gateway_port_id", sa.String(length=36), nullable=True),
        sa.Column("enable_snat", sa.Boolean(), nullable=False),
        sa.Column("routes", sa.JSON(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["gateway_network_id"],
            ["networks.id"],
            name=op.f("fk_routers_gateway_network_id_networks"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["gateway_port_id"], ["ports.id"], name=op.f("fk_routers_gateway_port_id_ports"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routers")),
    )
    with op.batch_alter_table("routers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_routers_gateway_network_id"), ["gateway_network_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_routers_host"), ["host"], unique=False)
        batch_op.create_index(batch_op.f("ix_routers_project_id"), ["project_id"], unique=False)

    op.create_table(
        "floating_ips",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("floating_network_id", sa.String(length=36), nullable=False),
        sa.Column("floating_port_id", sa.String(length=36), nullable=True),
        sa.Column("floating_ip_address", sa.String(length=64), nullable=False),
        sa.Column("port_id", sa.String(length=36), nullable=True),
        sa.Column("fixed_ip_address", sa.String(length=64), nullable=True),
        sa.Column("router_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["floating_network_id"],
            ["networks.id"],
            name=op.f("fk_floating_ips_floating_network_id_networks"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["floating_port_id"], ["ports.id"], name=op.f("fk_floating_ips_floating_port_id_ports"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["port_id"], ["ports.id"], name=op.f("fk_floating_ips_port_id_ports"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["router_id"], ["routers.id"], name=op.f("fk_floating_ips_router_id_routers"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_floating_ips")),
        sa.UniqueConstraint(
            "floating_network_id",
            "floating_ip_address",
            name=op.f("uq_floating_ips_floating_network_id_floating_ip_address"),
        ),
    )
    with op.batch_alter_table("floating_ips", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_floating_ips_floating_network_id"), ["floating_network_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_floating_ips_port_id"), ["port_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_floating_ips_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_floating_ips_router_id"), ["router_id"], unique=False)

    with op.batch_alter_table("networks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("physical_network", sa.String(length=64), nullable=True))
        batch_op.alter_column("segmentation_id", existing_type=sa.INTEGER(), nullable=True)

    with op.batch_alter_table("network_hosts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("routers", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("network_hosts", schema=None) as batch_op:
        batch_op.drop_column("routers")

    with op.batch_alter_table("networks", schema=None) as batch_op:
        batch_op.alter_column("segmentation_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("physical_network")

    with op.batch_alter_table("floating_ips", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_floating_ips_router_id"))
        batch_op.drop_index(batch_op.f("ix_floating_ips_project_id"))
        batch_op.drop_index(batch_op.f("ix_floating_ips_port_id"))
        batch_op.drop_index(batch_op.f("ix_floating_ips_floating_network_id"))

    op.drop_table("floating_ips")
    with op.batch_alter_table("routers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routers_project_id"))
        batch_op.drop_index(batch_op.f("ix_routers_host"))
        batch_op.drop_index(batch_op.f("ix_routers_gateway_network_id"))

    op.drop_table("routers")
