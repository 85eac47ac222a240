"""identity: project hierarchies (projects.parent_id) and inherited role assignments (OS-INHERIT)

Revision ID: 0025_identity_project_hierarchy
Revises: 0024_identity_trusts
Create Date: 2026-12-07 00:35:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025_identity_project_hierarchy"
down_revision = "0024_identity_trusts"
branch_labels = None
depends_on = None


def _inherited_table(name: str, actor: str, actor_table: str) -> None:
    op.create_table(
        name,
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column(actor, sa.String(length=64), nullable=False),
        sa.Column("role_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            [actor], [f"{actor_table}.id"], name=op.f(f"fk_{name}_{actor}_{actor_table}"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["role_id"], ["roles.id"], name=op.f(f"fk_{name}_role_id_roles"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("target_type", "target_id", actor, "role_id", name=op.f(f"pk_{name}")),
    )
    with op.batch_alter_table(name, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{name}_{actor}"), [actor], unique=False)


def upgrade() -> None:
    # Existing projects stay top-level (parent_id NULL: their parent is their domain).
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_projects_parent_id_projects"), "projects", ["parent_id"], ["id"])
        batch_op.create_index(batch_op.f("ix_projects_parent_id"), ["parent_id"], unique=False)
    _inherited_table("inherited_role_assignments", "user_id", "users")
    _inherited_table("inherited_group_role_assignments", "group_id", "groups")


def downgrade() -> None:
    op.drop_table("inherited_group_role_assignments")
    op.drop_table("inherited_role_assignments")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_projects_parent_id"))
        batch_op.drop_constraint(batch_op.f("fk_projects_parent_id_projects"), type_="foreignkey")
        batch_op.drop_column("parent_id")
