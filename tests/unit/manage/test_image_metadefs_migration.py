"""Migration 0027 makes the metadefs tables as the models declare them, and seeds namespaces that describe only
image properties Stratus really reads: the catalogue must not promise what the cloud does not do."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.orm import Session

import manage.models  # noqa: F401 - every model on the metadata
from common.db import Base, make_engine
from common.settings import load
from image.models import MetadefNamespace, MetadefProperty, MetadefResourceTypeAssociation
from manage.migrate import upgrade

ROOT = Path(__file__).resolve().parents[3]
TABLES = {
    "metadef_namespaces",
    "metadef_resource_types",
    "metadef_namespace_resource_types",
    "metadef_objects",
    "metadef_properties",
    "metadef_tags",
}
READ_BY = {
    "architecture": ("compute/control/build.py", "volume/sources.py"),
    "image_type": ("api/image/access.py", "api/compute/server_lifecycle.py"),
    "instance_uuid": ("api/image/access.py", "api/compute/server_lifecycle.py"),
    "base_image_ref": ("api/compute/server_lifecycle.py",),
    "owner_user_name": ("api/compute/server_lifecycle.py",),
    "owner_project_name": ("api/compute/server_lifecycle.py",),
}
"""Each seeded property and the code that reads or writes it."""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    settings = load({"STRATUS_STATE_DIR": str(tmp_path_factory.mktemp("metadefs"))})
    upgrade(settings)
    engine = make_engine(settings.effective_database_url)
    yield engine
    engine.dispose()


def test_the_metadefs_tables_match_the_models(engine):
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert set(engine.dialect.get_table_names(connection)) >= TABLES
    assert [d for d in diffs if any(t in str(d) for t in TABLES)] == []


def test_seeded_namespaces_are_public_protected_and_describe_only_what_stratus_reads(engine):
    with Session(engine) as session:
        namespaces = {n.namespace: n for n in session.scalars(select(MetadefNamespace))}
        assert set(namespaces) == {"OS::Stratus::Scheduling", "OS::Stratus::Snapshot"}
        assert all(n.visibility == "public" and n.protected for n in namespaces.values())
        properties = {p.name for p in session.scalars(select(MetadefProperty))}
        associated = {a.resource_type for a in session.scalars(select(MetadefResourceTypeAssociation))}
    assert properties == set(READ_BY)
    assert associated == {"OS::Glance::Image", "OS::Cinder::Volume"}
    for name, modules in READ_BY.items():
        for module in modules:
            assert f'"{name}"' in (ROOT / module).read_text(), f"{module} no longer names {name}"
