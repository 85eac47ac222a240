"""identity: domain configurations, policy blobs, endpoint groups and endpoint-project associations

Revision ID: 0022_identity_domain_config
Revises: 0021_application_credentials
Create Date: 2026-12-06 22:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022_identity_domain_config"
down_revision = "0021_application_credentials"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "domain_configs",
        sa.Column("domain_id", sa.String(length=64), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["domains.id"], name=op.f("fk_domain_configs_domain_id_domains"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("domain_id", name=op.f("pk_domain_configs")),
    )
    op.create_table(
        "policy_blobs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("blob", sa.Text(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_blobs")),
    )
    op.create_table(
        "endpoint_groups",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_groups")),
    )
    op.create_table(
        "project_endpoint_groups",
        sa.Column("endpoint_group_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_group_id"],
            ["endpoint_groups.id"],
            name=op.f("fk_project_endpoint_groups_endpoint_group_id_endpoint_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_endpoint_groups_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("endpoint_group_id", "project_id", name=op.f("pk_project_endpoint_groups")),
    )
    op.create_index(
        op.f("ix_project_endpoint_groups_project_id"), "project_endpoint_groups", ["project_id"], unique=False
    )
    op.create_table(
        "project_endpoints",
        sa.Column("endpoint_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_project_endpoints_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("endpoint_id", "project_id", name=op.f("pk_project_endpoints")),
    )
    op.create_index(op.f("ix_project_endpoints_project_id"), "project_endpoints", ["project_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_project_endpoints_project_id"), table_name="project_endpoints")
    op.drop_table("project_endpoints")
    op.drop_index(op.f("ix_project_endpoint_groups_project_id"), table_name="project_endpoint_groups")
    op.drop_table("project_endpoint_groups")
    op.drop_table("endpoint_groups")
    op.drop_table("policy_blobs")
    op.drop_table("domain_configs")
