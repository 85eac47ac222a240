"""identity: credentials (EC2 included)

Revision ID: 0020_identity_credentials
Revises: 0019_identity_catalog
Create Date: 2026-12-06 21:40:00.000000
"""

from __future__ import annotations

revision = "0020_identity_credentials"
down_revision = "0019_identity_catalog"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
