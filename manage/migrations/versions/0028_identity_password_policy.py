"""identity: Keystone's [security_compliance] password policies (user options, expiry, history, inactivity)

Revision ID: 0028_identity_password_policy
Revises: 0027_image_metadefs
Create Date: 2026-12-07 00:35:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0028_identity_password_policy"
down_revision = "0027_image_metadefs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing users get no options, no expiry and no forced change: a policy turned on later holds from each
    # user's next password, as in Keystone (whose expiry is stored with each password when it is set).
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("options", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("password_expires_at", common.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("password_must_change", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("password_self_service", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("last_active_at", sa.Date(), nullable=True))
    # The upgrade counts as every existing user's last active day: disable_user_account_days_inactive turned on
    # later must not disable at once every user (admins too) who was created long ago but signs in every day.
    op.execute(sa.text("UPDATE users SET options = '{}', last_active_at = CURRENT_DATE"))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("options", existing_type=sa.JSON(), nullable=False)
        batch.alter_column("password_must_change", server_default=None, existing_type=sa.Boolean())
        batch.alter_column("password_self_service", server_default=None, existing_type=sa.Boolean())

    op.create_table(
        "password_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_password_history_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_history")),
    )
    op.create_index(op.f("ix_password_history_user_id"), "password_history", ["user_id"], unique=False)
    # Every user's current password starts the history, so the first change already cannot reuse it.
    op.execute(
        sa.text(
            "INSERT INTO password_history (user_id, password_hash, created_at) "
            "SELECT id, password_hash, COALESCE(password_changed_at, created_at) FROM users "
            "WHERE password_hash IS NOT NULL"
        )
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_password_history_user_id"), table_name="password_history")
    op.drop_table("password_history")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("last_active_at")
        batch.drop_column("password_self_service")
        batch.drop_column("password_must_change")
        batch.drop_column("password_expires_at")
        batch.drop_column("options")
