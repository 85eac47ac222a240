"""identity: trusts (OS-TRUST) and the roles they delegate

Revision ID: 0024_identity_trusts
Revises: 0023_network_agents
Create Date: 2026-12-07 00:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0024_identity_trusts"
down_revision = "0023_network_agents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trusts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("trustor_user_id", sa.String(length=64), nullable=False),
        sa.Column("trustee_user_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=True),
        sa.Column("impersonation", sa.Boolean(), nullable=False),
        sa.Column("expires_at", common.db.UTCDateTime(), nullable=True),
        sa.Column("remaining_uses", sa.Integer(), nullable=True),
        sa.Column("redelegation_count", sa.Integer(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["trustor_user_id"], ["users.id"], name=op.f("fk_trusts_trustor_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["trustee_user_id"], ["users.id"], name=op.f("fk_trusts_trustee_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_trusts_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trusts")),
    )
    op.create_index(op.f("ix_trusts_trustor_user_id"), "trusts", ["trustor_user_id"])
    op.create_index(op.f("ix_trusts_trustee_user_id"), "trusts", ["trustee_user_id"])
    op.create_index(op.f("ix_trusts_project_id"), "trusts", ["project_id"])

    op.create_table(
        "trust_roles",
        sa.Column("trust_id", sa.String(length=64), nullable=False),
        sa.Column("role_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["trust_id"], ["trusts.id"], name=op.f("fk_trust_roles_trust_id_trusts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["role_id"], ["roles.id"], name=op.f("fk_trust_roles_role_id_roles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("trust_id", "role_id", name=op.f("pk_trust_roles")),
    )
    op.create_index(op.f("ix_trust_roles_role_id"), "trust_roles", ["role_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_trust_roles_role_id"), table_name="trust_roles")
    op.drop_table("trust_roles")
    op.drop_index(op.f("ix_trusts_project_id"), table_name="trusts")
    op.drop_index(op.f("ix_trusts_trustee_user_id"), table_name="trusts")
    op.drop_index(op.f("ix_trusts_trustor_user_id"), table_name="trusts")
    op.drop_table("trusts")
