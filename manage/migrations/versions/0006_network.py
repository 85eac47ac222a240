"""network tables: networks, subnets, ports, IP allocations, security groups and their rules

Revision ID: 0006_network
Revises: 0005_compute
Create Date: 2026-12-01 05:44:19.127889
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0006_network"
down_revision = "0005_compute"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "networks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("router_external", sa.Boolean(), nullable=False),
        sa.Column("mtu", sa.Integer(), nullable=False),
        sa.Column("port_security_enabled", sa.Boolean(), nullable=False),
        sa.Column("network_type", sa.String(length=16), nullable=False),
        sa.Column("segmentation_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_networks")),
        sa.UniqueConstraint("segmentation_id", name=op.f("uq_networks_segmentation_id")),
    )
    with op.batch_alter_table("networks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_networks_project_id"), ["project_id"], unique=False)

    op.create_table(
        "security_groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("stateful", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_groups")),
    )
    with op.batch_alter_table("security_groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_security_groups_project_id"), ["project_id"], unique=False)

    op.create_table(
        "default_security_groups",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("security_group_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["security_group_id"],
            ["security_groups.id"],
            name=op.f("fk_default_security_groups_security_group_id_security_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_default_security_groups")),
        sa.UniqueConstraint("security_group_id", name=op.f("uq_default_security_groups_security_group_id")),
    )
    op.create_table(
        "ports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("mac_address", sa.String(length=32), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("device_id", sa.String(length=255), nullable=False),
        sa.Column("device_owner", sa.String(length=255), nullable=False),
        sa.Column("binding_host_id", sa.String(length=255), nullable=False),
        sa.Column("binding_vif_type", sa.String(length=64), nullable=False),
        sa.Column("binding_vnic_type", sa.String(length=64), nullable=False),
        sa.Column("binding_profile", sa.JSON(), nullable=False),
        sa.Column("binding_vif_details", sa.JSON(), nullable=False),
        sa.Column("port_security_enabled", sa.Boolean(), nullable=False),
        sa.Column("allowed_address_pairs", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name=op.f("fk_ports_network_id_networks"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ports")),
        sa.UniqueConstraint("network_id", "mac_address", name=op.f("uq_ports_network_id_mac_address")),
    )
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.create_index("ix_ports_binding_host_id", ["binding_host_id"], unique=False)
        batch_op.create_index("ix_ports_device_id", ["device_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ports_network_id"), ["network_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ports_project_id"), ["project_id"], unique=False)

    op.create_table(
        "security_group_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("security_group_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("ethertype", sa.String(length=8), nullable=False),
        sa.Column("protocol", sa.String(length=40), nullable=True),
        sa.Column("port_range_min", sa.Integer(), nullable=True),
        sa.Column("port_range_max", sa.Integer(), nullable=True),
        sa.Column("remote_ip_prefix", sa.String(length=64), nullable=True),
        sa.Column("remote_group_id", sa.String(length=36), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["remote_group_id"],
            ["security_groups.id"],
            name=op.f("fk_security_group_rules_remote_group_id_security_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["security_group_id"],
            ["security_groups.id"],
            name=op.f("fk_security_group_rules_security_group_id_security_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_group_rules")),
    )
    with op.batch_alter_table("security_group_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_security_group_rules_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_security_group_rules_remote_group_id"), ["remote_group_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_security_group_rules_security_group_id"), ["security_group_id"], unique=False
        )

    op.create_table(
        "subnets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("ip_version", sa.Integer(), nullable=False),
        sa.Column("cidr", sa.String(length=64), nullable=False),
        sa.Column("gateway_ip", sa.String(length=64), nullable=True),
        sa.Column("allocation_pools", sa.JSON(), nullable=False),
        sa.Column("dns_nameservers", sa.JSON(), nullable=False),
        sa.Column("host_routes", sa.JSON(), nullable=False),
        sa.Column("enable_dhcp", sa.Boolean(), nullable=False),
        sa.Column("service_types", sa.JSON(), nullable=False),
        sa.Column("ipv6_ra_mode", sa.String(length=32), nullable=True),
        sa.Column("ipv6_address_mode", sa.String(length=32), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name=op.f("fk_subnets_network_id_networks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subnets")),
    )
    with op.batch_alter_table("subnets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subnets_network_id"), ["network_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_subnets_project_id"), ["project_id"], unique=False)

    op.create_table(
        "ip_allocations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("subnet_id", sa.String(length=36), nullable=False),
        sa.Column("ip_address", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["port_id"], ["ports.id"], name=op.f("fk_ip_allocations_port_id_ports"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["subnet_id"], ["subnets.id"], name=op.f("fk_ip_allocations_subnet_id_subnets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ip_allocations")),
        sa.UniqueConstraint("subnet_id", "ip_address", name=op.f("uq_ip_allocations_subnet_id_ip_address")),
    )
    with op.batch_alter_table("ip_allocations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ip_allocations_port_id"), ["port_id"], unique=False)

    op.create_table(
        "port_security_groups",
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("security_group_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["port_id"], ["ports.id"], name=op.f("fk_port_security_groups_port_id_ports"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["security_group_id"],
            ["security_groups.id"],
            name=op.f("fk_port_security_groups_security_group_id_security_groups"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("port_id", "security_group_id", name=op.f("pk_port_security_groups")),
    )
    with op.batch_alter_table("port_security_groups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_port_security_groups_security_group_id"), ["security_group_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("port_security_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_port_security_groups_security_group_id"))

    op.drop_table("port_security_groups")
    with op.batch_alter_table("ip_allocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ip_allocations_port_id"))

    op.drop_table("ip_allocations")
    with op.batch_alter_table("subnets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subnets_project_id"))
        batch_op.drop_index(batch_op.f("ix_subnets_network_id"))

    op.drop_table("subnets")
    with op.batch_alter_table("security_group_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_security_group_rules_security_group_id"))
        batch_op.drop_index(batch_op.f("ix_security_group_rules_remote_group_id"))
        batch_op.drop_index(batch_op.f("ix_security_group_rules_project_id"))

    op.drop_table("security_group_rules")
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ports_project_id"))
        batch_op.drop_index(batch_op.f("ix_ports_network_id"))
        batch_op.drop_index("ix_ports_device_id")
        batch_op.drop_index("ix_ports_binding_host_id")

    op.drop_table("ports")
    op.drop_table("default_security_groups")
    with op.batch_alter_table("security_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_security_groups_project_id"))

    op.drop_table("security_groups")
    with op.batch_alter_table("networks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_networks_project_id"))

    op.drop_table("networks")
