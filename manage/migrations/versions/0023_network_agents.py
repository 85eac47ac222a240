"""network: the agents API's own attributes of a host's network agent (admin_state_up, description, created_at)

Revision ID: 0023_network_agents
Revises: 0022_identity_domain_config
Create Date: 2026-12-06 22:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_network_agents"
down_revision = "0022_identity_domain_config"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("network_hosts") as batch:
        batch.add_column(sa.Column("admin_state_up", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch.add_column(sa.Column("description", sa.String(length=255), server_default="", nullable=False))
        batch.add_column(sa.Column("created_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("network_hosts") as batch:
        batch.drop_column("created_at")
        batch.drop_column("description")
        batch.drop_column("admin_state_up")
