"""What the identity service keeps on disk is private to its owner."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.functional, pytest.mark.both_databases]


def test_sqlite_database_and_fernet_keys_are_owner_only(cloud):
    if cloud.server.env.get("STRATUS_DATABASE_URL"):
        pytest.skip("PostgreSQL: no database file")
    state = cloud.server.state_dir
    assert (state / "stratus.db").stat().st_mode & 0o077 == 0
    keys = state / "fernet-keys"
    assert keys.stat().st_mode & 0o077 == 0
    assert all(k.stat().st_mode & 0o077 == 0 for k in keys.iterdir())


def test_no_password_appears_in_the_database_or_the_logs(cloud):
    cloud.admin().get_token()
    secret = b"admin-secret"
    if not cloud.server.env.get("STRATUS_DATABASE_URL"):
        assert secret not in (cloud.server.state_dir / "stratus.db").read_bytes()
    assert secret not in b"".join(p.read_bytes() for p in cloud.server.log_dir.iterdir())
