"""compute: the scheduler hints a server was created with, which microversion 2.100 shows

Revision ID: 0033_compute_scheduler_hints
Revises: 0032_network_conformance
Create Date: 2026-12-07 01:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033_compute_scheduler_hints"
down_revision = "0032_network_conformance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("scheduler_hints", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("scheduler_hints")
