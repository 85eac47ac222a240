"""identity: id mappings of users and groups read from a domain's LDAP directory

Revision ID: 0031_identity_ldap
Revises: 0030_compute_server_tags
Create Date: 2026-12-07 01:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031_identity_ldap"
down_revision = "0030_compute_server_tags"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "id_mappings",
        sa.Column("public_id", sa.String(length=64), nullable=False),
        sa.Column("domain_id", sa.String(length=64), nullable=False),
        sa.Column("local_id", sa.String(length=255), nullable=False),
        sa.Column("entity_type", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["domains.id"], name=op.f("fk_id_mappings_domain_id_domains"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("public_id", name=op.f("pk_id_mappings")),
        sa.UniqueConstraint(
            "domain_id", "local_id", "entity_type", name=op.f("uq_id_mappings_domain_id_local_id_entity_type")
        ),
    )
    op.create_index(op.f("ix_id_mappings_domain_id"), "id_mappings", ["domain_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_id_mappings_domain_id"), table_name="id_mappings")
    op.drop_table("id_mappings")
