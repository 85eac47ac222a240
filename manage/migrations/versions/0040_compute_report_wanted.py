"""compute: a host's report the control side waits for (``compute_hosts.report_wanted``)

A host's periodic look reports only what changed on it (and everything every compute_full_report_interval): 1,000
hosts reporting every look sent 100 reports a second at rest. Some decisions of the control side need the host's
next report even though nothing changed there (an evacuation's source still running the copy it must drop, a host
back after an outage whose servers were deleted or moved meanwhile): they mark the host, and its next heartbeat
asks it for a full report (``compute.control.hosts``).

Revision ID: 0040_compute_report_wanted
Revises: 0039_control_copies
Create Date: 2026-12-07 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0040_compute_report_wanted"
down_revision = "0039_control_copies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("compute_hosts") as batch:
        batch.add_column(sa.Column("report_wanted", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("compute_hosts") as batch:
        batch.drop_column("report_wanted")
