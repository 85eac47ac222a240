"""What the identity service keeps on disk is private to its owner."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.functional


def test_sqlite_database_and_fernet_keys_are_owner_only(identity):
    if identity.server.env["STRATUS_DATABASE_URL"]:
        pytest.skip("PostgreSQL: no database file")
    state = identity.server.state_dir
    assert (state / "stratus.db").stat().st_mode & 0o077 == 0
    keys = state / "fernet-keys"
    assert keys.stat().st_mode & 0o077 == 0
    assert all(k.stat().st_mode & 0o077 == 0 for k in keys.iterdir())


def test_no_password_appears_in_the_database_or_the_logs(identity):
    identity.admin().get_token()
    secret = b"admin-secret"
    if not identity.server.env["STRATUS_DATABASE_URL"]:
        assert secret not in (identity.server.state_dir / "stratus.db").read_bytes()
    assert secret not in identity.server.log_path.read_bytes()
