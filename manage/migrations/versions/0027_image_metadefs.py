"""image: metadata definitions (Glance metadefs), seeded with the image properties Stratus itself reads

Namespaces (cloud-wide unique names), the resource types they apply to and their associations, and each
namespace's objects, properties and tags, removed with their namespace by the database's cascade. Seeded public
and protected: ``OS::Stratus::Scheduling`` (``architecture``, the one image property the scheduler honours, on
images and on the image metadata of boot volumes) and ``OS::Stratus::Snapshot`` (the properties Stratus writes on
a server snapshot and reads back while the host uploads it). Properties Stratus does not act on (``hw_disk_bus``,
``hw_vif_model`` ...) are not described: the catalogue would promise what the cloud does not do.

Revision ID: 0027_image_metadefs
Revises: 0026_identity_roles
Create Date: 2026-12-07 00:40:00.000000
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import common.db

revision = "0027_image_metadefs"
down_revision = "0026_identity_roles"
branch_labels = None
depends_on = None

SEED_OWNER = "admin"
"""Owner of the seeded namespaces, as Glance's ``load_metadefs`` marks its own (no project owns them)."""
RESOURCE_TYPES = ("OS::Glance::Image", "OS::Cinder::Volume", "OS::Nova::Flavor", "OS::Nova::Server")

_SNAPSHOT_NOTE = " Set by Stratus when it snapshots a server; not meant to be set by hand."
NAMESPACES: list[dict[str, Any]] = [
    {
        "namespace": "OS::Stratus::Scheduling",
        "display_name": "Stratus scheduling",
        "description": (
            "Image properties the Stratus scheduler reads when it places a server. A server booted from a "
            "volume is placed by the image metadata of its root volume instead."
        ),
        "associations": [("OS::Glance::Image", None, None), ("OS::Cinder::Volume", None, "image")],
        "properties": {
            "architecture": {
                "title": "CPU Architecture",
                "type": "string",
                "description": (
                    "The CPU architecture the image needs. The server is placed only on a compute host whose CPU "
                    "architecture, as libvirt reports it, is exactly this value (for example x86_64 or aarch64); "
                    "with no such host the build fails with No valid host. Unset: any host."
                ),
            },
        },
    },
    {
        "namespace": "OS::Stratus::Snapshot",
        "display_name": "Stratus server snapshots",
        "description": (
            "Properties Stratus writes on the image of a server snapshot. While the snapshot is being taken, "
            "the compute host of the server named by instance_uuid may upload the image's data."
        ),
        "associations": [("OS::Glance::Image", None, None)],
        "properties": {
            "image_type": {
                "title": "Image Type",
                "type": "string",
                "enum": ["snapshot"],
                "readonly": True,
                "description": "snapshot: the image is a snapshot of a server." + _SNAPSHOT_NOTE,
            },
            "instance_uuid": {
                "title": "Server ID",
                "type": "string",
                "readonly": True,
                "description": "The server the snapshot was taken of." + _SNAPSHOT_NOTE,
            },
            "base_image_ref": {
                "title": "Base Image ID",
                "type": "string",
                "readonly": True,
                "description": "The image the server was built from." + _SNAPSHOT_NOTE,
            },
            "owner_user_name": {
                "title": "Owner User Name",
                "type": "string",
                "readonly": True,
                "description": "The name of the user who asked for the snapshot." + _SNAPSHOT_NOTE,
            },
            "owner_project_name": {
                "title": "Owner Project Name",
                "type": "string",
                "readonly": True,
                "description": "The name of the project the server belongs to." + _SNAPSHOT_NOTE,
            },
        },
    },
]


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", common.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", common.db.UTCDateTime(), nullable=True),
    ]


def _namespace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["namespace_id"],
        ["metadef_namespaces.id"],
        name=op.f(f"fk_{table}_namespace_id_metadef_namespaces"),
        ondelete="CASCADE",
    )


def _named_table(table: str, name_length: int, *columns: sa.Column[Any]) -> None:
    """A table of things named uniquely within their namespace (objects, properties, tags)."""
    op.create_table(
        table,
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("namespace_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=name_length), nullable=False),
        *columns,
        *_timestamps(),
        _namespace_fk(table),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("namespace_id", "name", name=op.f(f"uq_{table}_namespace_id_name")),
    )


def _create_tables() -> None:
    op.create_table(
        "metadef_namespaces",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("namespace", sa.String(length=80), nullable=False),
        sa.Column("display_name", sa.String(length=80), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metadef_namespaces")),
        sa.UniqueConstraint("namespace", name=op.f("uq_metadef_namespaces_namespace")),
    )
    with op.batch_alter_table("metadef_namespaces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_metadef_namespaces_owner"), ["owner"], unique=False)
    op.create_table(
        "metadef_resource_types",
        sa.Column("name", sa.String(length=80), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_metadef_resource_types")),
    )
    op.create_table(
        "metadef_namespace_resource_types",
        sa.Column("namespace_id", sa.String(length=36), nullable=False),
        sa.Column("resource_type", sa.String(length=80), nullable=False),
        sa.Column("prefix", sa.String(length=80), nullable=True),
        sa.Column("properties_target", sa.String(length=80), nullable=True),
        *_timestamps(),
        _namespace_fk("metadef_namespace_resource_types"),
        sa.ForeignKeyConstraint(
            ["resource_type"],
            ["metadef_resource_types.name"],
            name=op.f("fk_metadef_namespace_resource_types_resource_type_metadef_resource_types"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("namespace_id", "resource_type", name=op.f("pk_metadef_namespace_resource_types")),
    )
    with op.batch_alter_table("metadef_namespace_resource_types", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_metadef_namespace_resource_types_resource_type"), ["resource_type"], unique=False
        )
    _named_table(
        "metadef_objects",
        255,
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("required", sa.JSON(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
    )
    _named_table("metadef_properties", 255, sa.Column("definition", sa.JSON(), nullable=False))
    _named_table("metadef_tags", 255)


def _table(name: str, *columns: sa.ColumnClause[Any]) -> sa.TableClause:
    stamps = (sa.column("created_at", common.db.UTCDateTime()), sa.column("updated_at", common.db.UTCDateTime()))
    return sa.table(name, *columns, *stamps)


def _seed() -> None:
    now = datetime.now(UTC)
    stamps = {"created_at": now, "updated_at": now}
    text = sa.String
    namespaces = _table(
        "metadef_namespaces",
        *(sa.column(c, text()) for c in ("id", "namespace", "display_name", "description", "visibility", "owner")),
        sa.column("protected", sa.Boolean()),
    )
    associations = _table(
        "metadef_namespace_resource_types",
        *(sa.column(c, text()) for c in ("namespace_id", "resource_type", "prefix", "properties_target")),
    )
    properties = _table(
        "metadef_properties",
        *(sa.column(c, text()) for c in ("id", "namespace_id", "name")),
        sa.column("definition", sa.JSON()),
    )
    op.bulk_insert(
        _table("metadef_resource_types", sa.column("name", text())), [{"name": n, **stamps} for n in RESOURCE_TYPES]
    )
    for seed in NAMESPACES:
        namespace_id = str(uuid.uuid4())
        row = {k: seed[k] for k in ("namespace", "display_name", "description")}
        op.bulk_insert(
            namespaces,
            [{"id": namespace_id, **row, "visibility": "public", "protected": True, "owner": SEED_OWNER, **stamps}],
        )
        op.bulk_insert(
            associations,
            [
                {"namespace_id": namespace_id, "resource_type": name, "prefix": prefix, "properties_target": target}
                | stamps
                for name, prefix, target in seed["associations"]
            ],
        )
        op.bulk_insert(
            properties,
            [
                {"id": str(uuid.uuid4()), "namespace_id": namespace_id, "name": name, "definition": definition} | stamps
                for name, definition in seed["properties"].items()
            ],
        )


def upgrade() -> None:
    _create_tables()
    _seed()


def downgrade() -> None:
    op.drop_table("metadef_tags")
    op.drop_table("metadef_properties")
    op.drop_table("metadef_objects")
    with op.batch_alter_table("metadef_namespace_resource_types", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_metadef_namespace_resource_types_resource_type"))
    op.drop_table("metadef_namespace_resource_types")
    op.drop_table("metadef_resource_types")
    with op.batch_alter_table("metadef_namespaces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_metadef_namespaces_owner"))
    op.drop_table("metadef_namespaces")
