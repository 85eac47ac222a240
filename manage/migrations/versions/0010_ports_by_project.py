"""ports by project in id order: one index (project_id, id) in place of the one on project_id alone

A project's port listing is ordered by id. With only project_id indexed, every listing sorted all the
project's rows, after their documents were built: a 100-row page of 5,000 ports cost the whole sort, and
PostgreSQL's sort of 5,000 documents spilled to disk. The composite index also serves every lookup by project.

Revision ID: 0010_ports_by_project
Revises: 0009_portal_sessions
Create Date: 2026-12-01 10:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0010_ports_by_project"
down_revision = "0009_portal_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ports_project_id_id", "ports", ["project_id", "id"])
    op.drop_index("ix_ports_project_id", table_name="ports")


def downgrade() -> None:
    op.create_index("ix_ports_project_id", "ports", ["project_id"])
    op.drop_index("ix_ports_project_id_id", table_name="ports")
