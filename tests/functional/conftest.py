"""Fixtures shared by every functional test. Helpers that start servers live in ``tests/harness.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import start_postgres, start_redis

# ---------------------------------------------------------------------------------------------------------------
# Servers: one Redis and one PostgreSQL for the whole session, each on its own loopback port.


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a private Redis (no persistence). Tests sharing it must not run two clouds on it at once."""
    url, stop = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield url
    finally:
        stop()


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLAlchemy URL of a private PostgreSQL database ``stratus``; skips the test when PostgreSQL is absent."""
    started = start_postgres(tmp_path_factory.mktemp("postgres"))
    if started is None:
        pytest.skip("PostgreSQL is not installed (/usr/lib/postgresql/*/bin)")
    url, stop = started
    try:
        yield url
    finally:
        stop()
