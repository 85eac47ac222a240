"""Fixtures of the network service's unit tests (the dataplane's tests have their own, under dataplane/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from common.db import Base, Database
from quota import models as quota_models
from tests.unit.network.records import NETWORK_TABLES


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A file database (WAL, as the cloud runs it) so several threads can share it in concurrency tests."""
    database = Database(f"sqlite:///{tmp_path / 'network.db'}")
    # The service's creates check quotas, so the quota engine's tables come too.
    quota_tables = (quota_models.ProjectLimit, quota_models.ClassLimit, quota_models.QuotaLock)
    wanted = NETWORK_TABLES | {model.__tablename__ for model in quota_tables}
    tables = [table for table in Base.metadata.sorted_tables if table.name in wanted]
    Base.metadata.create_all(database.engine, tables=tables)
    try:
        yield database
    finally:
        database.dispose()
