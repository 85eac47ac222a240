"""identity generation counter

Revision ID: 0002_identity_generation
Revises: 0001_identity
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_identity_generation"
down_revision = "0001_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "identity_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_generation")),
    )
    op.bulk_insert(table, [{"id": 1, "value": 0}])


def downgrade() -> None:
    op.drop_table("identity_generation")
