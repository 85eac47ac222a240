"""portal sessions: the web portal's server-side sessions (token, user, project, CSRF secret, last activity)

Revision ID: 0009_portal_sessions
Revises: 0008_quotas
Create Date: 2026-12-10 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0009_portal_sessions"
down_revision = "0008_quotas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("sign_in_token", sa.Text(), nullable=False),
        sa.Column("token_expires_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=255), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=True),
        sa.Column("project_name", sa.String(length=255), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("projects", sa.JSON(), nullable=False),
        sa.Column("csrf_secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", common.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_sessions")),
    )
    op.create_index(op.f("ix_portal_sessions_last_seen_at"), "portal_sessions", ["last_seen_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_portal_sessions_last_seen_at"), table_name="portal_sessions")
    op.drop_table("portal_sessions")
