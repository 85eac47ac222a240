"""0024 creates the trusts and their delegated roles exactly as the models declare them."""

from __future__ import annotations

from tests.unit.identity.test_migrations import _tables, migrated  # noqa: F401 - the shared fixture

TABLES = {"trusts", "trust_roles"}


def test_0024_matches_the_models(migrated):  # noqa: F811 - the fixture
    tables, diffs = migrated
    assert tables >= TABLES
    assert [d for d in diffs if _tables(d) & TABLES] == []
