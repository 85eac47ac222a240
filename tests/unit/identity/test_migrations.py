"""Identity's migrations create exactly the tables, columns, constraints and indexes its models declare: 0019 the
catalog, 0021 application credentials, 0022 domain configurations, policy blobs and endpoint groups, 0025 project
trees and inherited grants."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import manage.models  # noqa: F401 - every model on the metadata
from common.db import Base, make_engine
from common.settings import load
from manage.migrate import upgrade

TABLES_OF = {
    "0019 catalog": {"catalog_regions", "catalog_services", "catalog_endpoints"},
    "0021 application credentials": {"application_credentials", "app_cred_roles", "access_rules",
                                     "app_cred_access_rules"},
    "0022 domain config, policies, endpoint groups": {"domain_configs", "policy_blobs", "endpoint_groups",
                                                      "project_endpoint_groups", "project_endpoints"},
    "0025 project hierarchy, inherited grants": {"projects", "inherited_role_assignments",
                                                 "inherited_group_role_assignments"},
    "0039 control copies": {"periodic_turns"},
}  # fmt: skip


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


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], list]:
    """The tables of a database every migration made, and how it differs from the models."""
    state: Path = tmp_path_factory.mktemp("migrated")
    settings = load({"STRATUS_STATE_DIR": str(state)})
    upgrade(settings)
    engine = make_engine(settings.effective_database_url)
    try:
        with engine.connect() as connection:
            diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
            tables = set(engine.dialect.get_table_names(connection))
    finally:
        engine.dispose()
    return tables, diffs


@pytest.mark.parametrize("migration", TABLES_OF)
def test_the_migration_matches_the_models(migrated, migration):
    tables, diffs = migrated
    assert tables >= TABLES_OF[migration]
    assert [d for d in diffs if _tables(d) & TABLES_OF[migration]] == []
