"""compute: the step of a move handed to a host and not acknowledged yet (``migrations.step``, ``step_host``,
``step_sent_at``, ``step_sends``)

An evacuation sent its work to the target once: a message lost to a broker restart, or to the target's agent
restarting before it took it, left the server ``rebuilding`` until the task timeout and then in ERROR. The target
now acknowledges the step on receipt (as a build's spawn is), and a step not acknowledged within
compute_build_take_timeout is sent again, a bounded number of times (``compute.control.move_steps``).

Revision ID: 0038_compute_move_steps
Revises: 0037_compute_host_fencing
Create Date: 2026-12-07 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0038_compute_move_steps"
down_revision = "0037_compute_host_fencing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("migrations") as batch:
        batch.add_column(sa.Column("step", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("step_host", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("step_sent_at", common.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("step_sends", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("migrations") as batch:
        batch.drop_column("step_sends")
        batch.drop_column("step_sent_at")
        batch.drop_column("step_host")
        batch.drop_column("step")
