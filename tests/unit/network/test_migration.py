"""The 0006 migration creates exactly the tables, columns, constraints and indexes the network models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import manage.models  # noqa: F401 - every model on the metadata
from common.db import Base, make_engine
from common.settings import load
from manage.migrate import upgrade
from tests.unit.network.records import NETWORK_TABLES


def _table_of(diff) -> str | None:
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        name = getattr(part, "name", None) if not isinstance(part, str) else None
        table = getattr(part, "table", None)
        if table is not None:
            return table.name
        if name in NETWORK_TABLES:
            return name
        if isinstance(part, str) and part in NETWORK_TABLES:
            return part
    return None


def test_migrations_match_the_network_models(tmp_path):
    settings = load({"STRATUS_STATE_DIR": str(tmp_path)})
    upgrade(settings)
    engine = make_engine(settings.effective_database_url)
    try:
        with engine.connect() as connection:
            diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            tables = set(engine.dialect.get_table_names(connection))
    finally:
        engine.dispose()
    assert tables >= NETWORK_TABLES
    assert [d for d in diffs if _table_of(d) in NETWORK_TABLES] == []
