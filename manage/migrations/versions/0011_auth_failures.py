"""auth failures: failed password sign-ins per user and per client address, for lockout and throttling

Keystone keeps ``failed_auth_count`` on the user row; Stratus keeps a row per counted key instead, so a name
that does not exist locks exactly like one that does (no user enumeration), client addresses are counted the
same way, and a failure never bumps the identity generation that every API worker's caches key on.

Revision ID: 0011_auth_failures
Revises: 0010_ports_by_project
Create Date: 2026-12-06 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0011_auth_failures"
down_revision = "0010_ports_by_project"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_failures",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("last_failed_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("locked_until", common.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_auth_failures")),
    )
    op.create_index(op.f("ix_auth_failures_last_failed_at"), "auth_failures", ["last_failed_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_auth_failures_last_failed_at"), table_name="auth_failures")
    op.drop_table("auth_failures")
