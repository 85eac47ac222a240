"""identity: groups and their members (Keystone's groups)

Revision ID: 0018_identity_groups
Revises: 0017_backup_temp_snapshots
Create Date: 2026-12-06 21:40:00.000000
"""

from __future__ import annotations

revision = "0018_identity_groups"
down_revision = "0017_backup_temp_snapshots"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
