"""identity: regions, services and endpoints made through the API

Revision ID: 0019_identity_catalog
Revises: 0018_identity_groups
Create Date: 2026-12-06 21:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0019_identity_catalog"
down_revision = "0018_identity_groups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_regions",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("parent_region_id", sa.String(length=255), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_regions")),
    )
    with op.batch_alter_table("catalog_regions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_regions_parent_region_id"), ["parent_region_id"], unique=False)

    op.create_table(
        "catalog_services",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_services")),
    )
    with op.batch_alter_table("catalog_services", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_services_type"), ["type"], unique=False)

    op.create_table(
        "catalog_endpoints",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("interface", sa.String(length=8), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("region_id", sa.String(length=255), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_endpoints")),
    )
    with op.batch_alter_table("catalog_endpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_endpoints_region_id"), ["region_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_endpoints_service_id"), ["service_id"], unique=False)


def downgrade() -> None:
    op.drop_table("catalog_endpoints")
    op.drop_table("catalog_services")
    op.drop_table("catalog_regions")
