"""compute: the index os-simple-tenant-usage reads servers by (their launch and termination times)

Server tags (2.26) need no schema of their own: ``instances.tags`` (a JSON list) is there since 0005, and an
interface's work in flight is a mark on its entry in ``instances.requested_networks``. What the usage report needs
is to find the servers that ran during a period among every server ever made (deleted ones keep their rows and
times), without reading them all.

Revision ID: 0030_compute_server_tags
Revises: 0029_compute_server_states
Create Date: 2026-12-07 01:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0030_compute_server_tags"
down_revision = "0029_compute_server_states"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_instances_usage_period", "instances", ["launched_at", "terminated_at"])


def downgrade() -> None:
    op.drop_index("ix_instances_usage_period", table_name="instances")
