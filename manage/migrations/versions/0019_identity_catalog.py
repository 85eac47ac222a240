"""identity: regions, services and endpoints made through the API

Revision ID: 0019_identity_catalog
Revises: 0018_identity_groups
Create Date: 2026-12-06 21:40:00.000000
"""

from __future__ import annotations

revision = "0019_identity_catalog"
down_revision = "0018_identity_groups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
