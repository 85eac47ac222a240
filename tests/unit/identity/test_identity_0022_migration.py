"""The 0022 migration creates exactly the tables, columns, constraints and indexes the models declare
(domain configurations, policy blobs, endpoint groups and their project associations)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import manage.models  # noqa: F401 - every model on the metadata
from common.db import Base, make_engine
from common.settings import load
from manage.migrate import upgrade

TABLES = {"domain_configs", "policy_blobs", "endpoint_groups", "project_endpoint_groups", "project_endpoints"}


def _tables(diff) -> set[str]:
    """Every table name a difference mentions (a table, a column's table, an index's or constraint's table)."""
    items = diff if isinstance(diff, list) else [diff]
    names: set[str] = set()
    for item in items:
        for part in item[1:]:
            if isinstance(part, str):
                names.add(part)
            for attr in ("name", "table"):
                value = getattr(part, attr, None)
                names.add(getattr(value, "name", value) if value is not None else "")
    return names


def test_migration_matches_the_domain_config_policy_and_endpoint_group_models(tmp_path):
    settings = load({"STRATUS_STATE_DIR": str(tmp_path)})
    upgrade(settings)
    engine = make_engine(settings.effective_database_url)
    try:
        with engine.connect() as connection:
            diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            tables = set(engine.dialect.get_table_names(connection))
    finally:
        engine.dispose()
    assert tables >= TABLES
    assert [d for d in diffs if _tables(d) & TABLES] == []
