"""instances.taken_by: the host that acknowledged the build in flight

A build handed to a host whose agent is gone (stopped, killed, or retired by ``make up HOSTS=N``) waited in
that host's queue until the task timeout. The host now acknowledges receiving the spawn; a build not taken
within compute_build_take_timeout is scheduled again on another host.

Revision ID: 0012_build_taken_by
Revises: 0011_auth_failures
Create Date: 2026-12-06 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_build_taken_by"
down_revision = "0011_auth_failures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("instances", sa.Column("taken_by", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("taken_by")
