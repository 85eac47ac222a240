"""image variants

Revision ID: 0004_image_variants
Revises: 0003_images
Create Date: 2026-11-23 19:51:07.857090
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0004_image_variants"
down_revision = "0003_images"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_variants",
        sa.Column("image_id", sa.String(length=36), nullable=False),
        sa.Column("disk_format", sa.String(length=16), nullable=False),
        sa.Column("location", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("checksum", sa.String(length=32), nullable=False),
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name=op.f("fk_image_variants_image_id_images"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("image_id", "disk_format", name=op.f("pk_image_variants")),
    )


def downgrade() -> None:
    op.drop_table("image_variants")
