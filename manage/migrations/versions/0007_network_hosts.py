"""network hosts: each host agent's VTEP, last report and the networks last pushed to it

Revision ID: 0007_network_hosts
Revises: 0006_network
Create Date: 2026-12-01 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0007_network_hosts"
down_revision = "0006_network"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_hosts",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("underlay_ip", sa.String(length=64), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("last_seen", common.db.UTCDateTime(), nullable=True),
        sa.Column("networks", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("host", name=op.f("pk_network_hosts")),
    )


def downgrade() -> None:
    op.drop_table("network_hosts")
