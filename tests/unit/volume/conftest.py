"""The volume worker in-process on the unit tests' SQLite database, with the state in the test's own directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from common.db import Database
from common.settings import Settings, load
from volume import types
from volume.context import VolumeWorker


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load({"STRATUS_STATE_DIR": str(tmp_path)})


@pytest.fixture
def worker(db: Database, settings: Settings) -> Iterator[VolumeWorker]:
    with db.session() as session:
        types.ensure_types(session, settings)
    yield VolumeWorker(db, settings)
