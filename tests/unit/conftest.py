"""What unit tests across services share: a fresh SQLite database with every table.

A directory's own ``db`` fixture (seeded hosts, only the network's tables) overrides this one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import manage.models  # noqa: F401 - every table on the metadata
from common.db import Base, Database


def fresh_database(path: Path) -> Iterator[Database]:
    """A database file at ``path`` with every table, disposed of afterwards."""
    database = Database(f"sqlite:///{path}")
    Base.metadata.create_all(database.engine)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    yield from fresh_database(tmp_path / "unit.db")
