"""identity: domain-specific roles (a role's domain, names unique per domain) and OS-OAUTH1 consumers

Revision ID: 0026_identity_roles
Revises: 0025_identity_project_hierarchy
Create Date: 2026-12-07 00:45:00.000000

Role names were unique cloud-wide; they become unique per domain, and among global roles (``domain_id`` NULL)
through a partial unique index, since NULLs never collide in a UNIQUE constraint. The built-in implications
(admin > member > reader) stay rows of ``implied_roles``, written by ``stratus-manage bootstrap`` with the roles.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0026_identity_roles"
down_revision = "0025_identity_project_hierarchy"
branch_labels = None
depends_on = None

GLOBAL_ONLY = sa.text("domain_id IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("roles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("domain_id", sa.String(length=64), nullable=True))
        batch_op.drop_constraint("uq_roles_name", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_roles_domain_id_name"), ["domain_id", "name"])
        batch_op.create_foreign_key(
            batch_op.f("fk_roles_domain_id_domains"), "domains", ["domain_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_index(batch_op.f("ix_roles_domain_id"), ["domain_id"], unique=False)
    op.create_index(
        "uq_roles_global_name", "roles", ["name"], unique=True, sqlite_where=GLOBAL_ONLY, postgresql_where=GLOBAL_ONLY
    )
    op.create_table(
        "oauth1_consumers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("secret_hash", sa.String(length=255), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth1_consumers")),
    )


def downgrade() -> None:
    op.drop_table("oauth1_consumers")
    op.drop_index("uq_roles_global_name", table_name="roles")
    op.execute("DELETE FROM roles WHERE domain_id IS NOT NULL")
    with op.batch_alter_table("roles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_roles_domain_id"))
        batch_op.drop_constraint(batch_op.f("fk_roles_domain_id_domains"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_roles_domain_id_name"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_roles_name"), ["name"])
        batch_op.drop_column("domain_id")
