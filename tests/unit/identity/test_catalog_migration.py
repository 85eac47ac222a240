"""The 0019 migration creates exactly the tables, columns and indexes the catalog models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import manage.models  # noqa: F401 - every model on the metadata
from common.db import Base, make_engine
from common.settings import load
from manage.migrate import upgrade

CATALOG_TABLES = {"catalog_regions", "catalog_services", "catalog_endpoints"}


def _tables_named(diff: object) -> set[str]:
    """Every table a difference mentions, whatever its shape (a column, an index, a whole table)."""
    item = diff[0] if isinstance(diff, list) else diff
    names: set[str] = set()
    for part in item[1:]:  # type: ignore[index]
        if isinstance(part, str):
            names.add(part)
        elif (table := getattr(part, "table", None)) is not None:
            names.add(table.name)
        elif (name := getattr(part, "name", None)) is not None:
            names.add(name)
    return names


def test_migrations_match_the_catalog_models(tmp_path):
    settings = load({"STRATUS_STATE_DIR": str(tmp_path)})
    upgrade(settings)
    engine = make_engine(settings.effective_database_url)
    try:
        with engine.connect() as connection:
            diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            tables = set(engine.dialect.get_table_names(connection))
    finally:
        engine.dispose()
    assert tables >= CATALOG_TABLES
    assert [d for d in diffs if _tables_named(d) & CATALOG_TABLES] == []
