"""identity: groups and their members (Keystone's groups)

Revision ID: 0018_identity_groups
Revises: 0017_backup_temp_snapshots
Create Date: 2026-12-06 21:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0018_identity_groups"
down_revision = "0017_backup_temp_snapshots"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("domain_id", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["domains.id"], name=op.f("fk_groups_domain_id_domains"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.UniqueConstraint("domain_id", "name", name=op.f("uq_groups_domain_id_name")),
    )
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_groups_domain_id"), ["domain_id"], unique=False)

    op.create_table(
        "user_group_memberships",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_user_group_memberships_group_id_groups"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_group_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "group_id", name=op.f("pk_user_group_memberships")),
    )
    with op.batch_alter_table("user_group_memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_group_memberships_group_id"), ["group_id"], unique=False)

    op.create_table(
        "group_role_assignments",
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("role_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_group_role_assignments_group_id_groups"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["role_id"], ["roles.id"], name=op.f("fk_group_role_assignments_role_id_roles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "target_type", "target_id", "group_id", "role_id", name=op.f("pk_group_role_assignments")
        ),
    )
    with op.batch_alter_table("group_role_assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_role_assignments_group_id"), ["group_id"], unique=False)
        batch_op.create_index("ix_group_role_assignments_target", ["target_id", "group_id"], unique=False)


def downgrade() -> None:
    op.drop_table("group_role_assignments")
    op.drop_table("user_group_memberships")
    op.drop_table("groups")
