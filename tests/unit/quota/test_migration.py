"""The 0008 migration creates exactly what the quota models and the instances' quota columns declare, and
backfills the counted cores and RAM of existing servers from their flavors."""

from __future__ import annotations

import json

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

import manage.models  # noqa: F401 - every model on the metadata
from common.db import Base, make_engine
from common.settings import load
from manage.migrate import upgrade


def test_migrations_match_the_models(tmp_path):
    settings = load({"STRATUS_STATE_DIR": str(tmp_path)})
    upgrade(settings)
    engine = make_engine(settings.effective_database_url)
    try:
        with engine.connect() as connection:
            diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert diffs == []


def test_existing_servers_get_their_counted_cores_and_ram(tmp_path):
    settings = load({"STRATUS_STATE_DIR": str(tmp_path)})
    upgrade(settings, "0007_network_hosts")
    engine = make_engine(settings.effective_database_url)
    columns = "id, name, project_id, user_id, hostname, reservation_id, launch_index, flavor, old_flavor, image_ref,"
    columns += " image_meta, vm_state, power_state, metadata, tags, security_groups, requested_networks,"
    columns += " config_drive, locked, progress, attempts, deleted, created_at"
    flavors = [({"vcpus": 2, "ram": 1024}, None), ({"vcpus": 4, "ram": 512}, {"vcpus": 1, "ram": 2048})]
    try:
        with engine.begin() as connection:
            for number, (flavor, old) in enumerate(flavors):
                connection.execute(
                    text(
                        f"INSERT INTO instances ({columns}) VALUES (:id, 's', 'p', 'u', 's', 'r', 0, :flavor, :old,"
                        " 'i', '{}', 'active', 1, '{}', '[]', '[]', :none, 1, 0, 0, '[]', 0, '2026-01-01')"
                    ),
                    {
                        "id": f"i{number}",
                        "flavor": json.dumps(flavor),
                        "old": json.dumps(old) if old else None,
                        "none": '"none"',
                    },
                )
        upgrade(settings)
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT quota_vcpus, quota_memory_mb FROM instances ORDER BY id")).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [(2, 1024), (4, 2048)]
