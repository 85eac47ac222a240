"""Migration 0038 adds the step of a move awaited from a host (``migrations.step``, ``step_host``, ``step_sent_at``,
``step_sends``) exactly as the model declares it."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import manage.models  # noqa: F401 - every model on the metadata
from common.db import Base, make_engine
from common.settings import load
from manage.migrate import upgrade


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    settings = load({"STRATUS_STATE_DIR": str(tmp_path_factory.mktemp("move-steps"))})
    upgrade(settings)
    engine = make_engine(settings.effective_database_url)
    yield engine
    engine.dispose()


def test_the_move_step_columns_match_the_model(engine):
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        columns = {column["name"] for column in inspect(connection).get_columns("migrations")}
    assert {"step", "step_host", "step_sent_at", "step_sends"} <= columns
    assert [d for d in diffs if "migrations" in str(d) and "alembic" not in str(d)] == []
