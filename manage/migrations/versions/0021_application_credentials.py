"""identity: application credentials and their access rules

Revision ID: 0021_application_credentials
Revises: 0020_identity_credentials
Create Date: 2026-12-06 21:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0021_application_credentials"
down_revision = "0020_identity_credentials"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "application_credentials",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("secret_hash", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", common.db.UTCDateTime(), nullable=True),
        sa.Column("unrestricted", sa.Boolean(), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_application_credentials_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_application_credentials_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_credentials")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_application_credentials_user_id_name")),
    )
    op.create_index(op.f("ix_application_credentials_user_id"), "application_credentials", ["user_id"])
    op.create_index(op.f("ix_application_credentials_project_id"), "application_credentials", ["project_id"])

    op.create_table(
        "app_cred_roles",
        sa.Column("credential_id", sa.String(length=64), nullable=False),
        sa.Column("role_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["application_credentials.id"],
            name=op.f("fk_app_cred_roles_credential_id_application_credentials"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["role_id"], ["roles.id"], name=op.f("fk_app_cred_roles_role_id_roles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("credential_id", "role_id", name=op.f("pk_app_cred_roles")),
    )
    op.create_index(op.f("ix_app_cred_roles_role_id"), "app_cred_roles", ["role_id"])

    op.create_table(
        "access_rules",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=128), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_access_rules_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_rules")),
        sa.UniqueConstraint(
            "user_id", "service", "path", "method", name=op.f("uq_access_rules_user_id_service_path_method")
        ),
    )
    op.create_index(op.f("ix_access_rules_user_id"), "access_rules", ["user_id"])

    op.create_table(
        "app_cred_access_rules",
        sa.Column("credential_id", sa.String(length=64), nullable=False),
        sa.Column("access_rule_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["application_credentials.id"],
            name=op.f("fk_app_cred_access_rules_credential_id_application_credentials"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["access_rule_id"],
            ["access_rules.id"],
            name=op.f("fk_app_cred_access_rules_access_rule_id_access_rules"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("credential_id", "access_rule_id", name=op.f("pk_app_cred_access_rules")),
    )
    op.create_index(op.f("ix_app_cred_access_rules_access_rule_id"), "app_cred_access_rules", ["access_rule_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_app_cred_access_rules_access_rule_id"), table_name="app_cred_access_rules")
    op.drop_table("app_cred_access_rules")
    op.drop_index(op.f("ix_access_rules_user_id"), table_name="access_rules")
    op.drop_table("access_rules")
    op.drop_index(op.f("ix_app_cred_roles_role_id"), table_name="app_cred_roles")
    op.drop_table("app_cred_roles")
    op.drop_index(op.f("ix_application_credentials_project_id"), table_name="application_credentials")
    op.drop_index(op.f("ix_application_credentials_user_id"), table_name="application_credentials")
    op.drop_table("application_credentials")
