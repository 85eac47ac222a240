"""several control copies: the order of a host's words (``instances.heard_from``, ``heard_seq``,
``compute_hosts.last_report_seq``) and one run per interval of each periodic job (``periodic_turns``)

A host's periodic report is a snapshot of what runs there; read after an event the host sent later (a guest
spawned just after the snapshot), it said the new server was gone and put it in ERROR. That held only while one
scheduler process took a host's reports and events from one queue, in the order sent. Every message a host sends
now carries its sequence number (``common.queue.host_seq``); the control side remembers, per server, the newest
word it applied and, per host, the newest report, and drops what is older: reports may then go to a queue of
their own and be taken by several scheduler copies. Every copy also runs the periodic jobs' clock, and a job
runs when its row in ``periodic_turns`` says its turn has come (``common.periodic``).

Revision ID: 0039_control_copies
Revises: 0038_compute_move_steps
Create Date: 2026-12-07 13:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0039_control_copies"
down_revision = "0038_compute_move_steps"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "periodic_turns",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("last_run_at", common.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("heard_from", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("heard_seq", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("compute_hosts") as batch:
        batch.add_column(sa.Column("last_report_seq", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("compute_hosts") as batch:
        batch.drop_column("last_report_seq")
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("heard_seq")
        batch.drop_column("heard_from")
    op.drop_table("periodic_turns")
