"""Migration 0036 makes the ``migrations`` table (moves of servers between hosts) exactly as the model declares it."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import manage.models  # noqa: F401 - every model on the metadata
from common.db import Base, make_engine
from common.settings import load
from manage.migrate import upgrade


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    settings = load({"STRATUS_STATE_DIR": str(tmp_path_factory.mktemp("compute-migrations"))})
    upgrade(settings)
    engine = make_engine(settings.effective_database_url)
    yield engine
    engine.dispose()


def test_the_migrations_table_matches_its_model(engine):
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert "migrations" in engine.dialect.get_table_names(connection)
    assert [d for d in diffs if "migrations" in str(d)] == []
