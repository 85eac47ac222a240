"""identity: application credentials and their access rules

Revision ID: 0021_application_credentials
Revises: 0020_identity_credentials
Create Date: 2026-12-06 21:40:00.000000
"""

from __future__ import annotations

revision = "0021_application_credentials"
down_revision = "0020_identity_credentials"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
