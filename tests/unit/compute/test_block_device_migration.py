"""Migration 0016 makes the block device mappings table as the model declares it, and keeps one live mapping per
device of a server and per volume."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from common.db import Base, make_engine
from common.settings import load
from manage.migrate import upgrade


def test_the_migrated_schema_is_the_models(tmp_path):
    settings = load({"STRATUS_STATE_DIR": str(tmp_path)})
    upgrade(settings)
    engine = make_engine(settings.effective_database_url)
    try:
        with engine.connect() as connection:
            diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diffs == []
        insert = text(
            "INSERT INTO block_device_mappings (id, instance_uuid, volume_id, device_name, source_type,"
            " destination_type, delete_on_termination, attached, deleted, created_at)"
            " VALUES (:id, 'i', :volume, '/dev/vdb', 'volume', 'volume', 0, 0, :deleted, '2026-01-01')"
        )
        with engine.begin() as connection:
            connection.execute(text("PRAGMA foreign_keys = OFF"))
            connection.execute(insert, {"id": "a", "volume": "v1", "deleted": 1})
            connection.execute(insert, {"id": "b", "volume": "v1", "deleted": 0})  # the old one was deleted
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text("PRAGMA foreign_keys = OFF"))
            connection.execute(insert, {"id": "c", "volume": "v2", "deleted": 0})  # the same device, live
    finally:
        engine.dispose()
