"""0026 makes role names unique per domain (and among global roles) and adds OS-OAUTH1 consumers, exactly as the
models declare; a second global role of a taken name is still refused, a domain role of that name is not."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from common.db import make_engine
from common.settings import load
from manage.migrate import upgrade
from tests.unit.identity.test_migrations import _tables, migrated  # noqa: F401 - the shared fixture

TABLES = {"roles", "oauth1_consumers"}


def test_0026_matches_the_models(migrated):  # noqa: F811 - the fixture
    tables, diffs = migrated
    assert tables >= TABLES
    assert [d for d in diffs if _tables(d) & TABLES] == []


def test_role_names_are_unique_per_domain_and_among_global_roles(tmp_path):
    settings = load({"STRATUS_STATE_DIR": str(tmp_path)})
    upgrade(settings)
    engine = make_engine(settings.effective_database_url)
    insert = sa.text(
        "INSERT INTO roles (id, name, description, domain_id, created_at) "
        "VALUES (:id, :name, '', :domain, '2026-01-01')"
    )
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO domains (id, name, description, enabled, created_at) "
                                       "VALUES ('d1', 'd1', '', 1, '2026-01-01')"))  # fmt: skip
            connection.execute(insert, {"id": "r1", "name": "auditor", "domain": None})
            connection.execute(insert, {"id": "r2", "name": "auditor", "domain": "d1"})
        for duplicate in (
            {"id": "r3", "name": "auditor", "domain": None},
            {"id": "r4", "name": "auditor", "domain": "d1"},
        ):
            with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
                connection.execute(insert, duplicate)
    finally:
        engine.dispose()
