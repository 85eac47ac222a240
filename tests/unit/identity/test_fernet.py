from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.exceptions import ConfigError, Unauthorized
from identity import fernet as tokens
from identity.fernet import KeyRepository, TokenPayload


def _payload(**changes) -> TokenPayload:
    now = datetime.now(UTC)
    values = dict(
        user_id="u1",
        methods=("password",),
        expires_at=now + timedelta(hours=1),
        issued_at=now,
        audit_ids=(tokens.new_audit_id(),),
        project_id="p1",
    )
    return TokenPayload(**(values | changes))


@pytest.fixture
def keys(tmp_path) -> KeyRepository:
    repository = KeyRepository(tmp_path / "keys", max_active_keys=3)
    repository.setup()
    return repository


def test_a_token_round_trips_its_payload(keys):
    payload = _payload()
    decoded = tokens.decode(tokens.encode(payload, keys), keys)
    assert decoded.user_id == "u1" and decoded.project_id == "p1" and decoded.scope == "project"
    assert decoded.audit_ids == payload.audit_ids
    assert abs(decoded.expires_at - payload.expires_at) < timedelta(microseconds=2)


def test_a_trust_scoped_token_carries_its_trust_id_and_an_ordinary_one_none(keys):
    trusted = tokens.decode(tokens.encode(_payload(trust_id="t1"), keys), keys)
    plain = tokens.decode(tokens.encode(_payload(), keys), keys)
    assert trusted.trust_id == "t1" and trusted.project_id == "p1" and trusted.scope == "project"
    assert plain.trust_id is None


def test_tokens_are_compact_and_unpadded(keys):
    token = tokens.encode(_payload(), keys)
    assert "=" not in token and len(token) < 300


def test_an_expired_token_is_refused(keys):
    past = datetime.now(UTC) - timedelta(hours=2)
    token = tokens.encode(_payload(issued_at=past, expires_at=past + timedelta(hours=1)), keys)
    with pytest.raises(Unauthorized, match="expired"):
        tokens.decode(token, keys)


def test_a_tampered_token_is_refused(keys):
    token = tokens.encode(_payload(), keys)
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    with pytest.raises(Unauthorized):
        tokens.decode(tampered, keys)


def test_a_token_from_another_key_repository_is_refused(keys, tmp_path):
    other = KeyRepository(tmp_path / "other")
    other.setup()
    with pytest.raises(Unauthorized):
        tokens.decode(tokens.encode(_payload(), other), keys)


def test_setup_is_idempotent_and_creates_staged_and_primary(keys):
    assert sorted(p.name for p in keys.path.iterdir()) == ["0", "1"]
    assert keys.setup() is False
    assert (keys.path / "1").stat().st_mode & 0o777 == 0o600


def test_rotation_keeps_max_active_keys_and_old_tokens_until_pruned(keys):
    old = tokens.encode(_payload(), keys)
    assert keys.rotate() == 2
    assert sorted(p.name for p in keys.path.iterdir()) == ["0", "1", "2"]
    assert tokens.decode(old, keys).user_id == "u1"
    newer = tokens.encode(_payload(), keys)

    assert keys.rotate() == 3
    assert sorted(p.name for p in keys.path.iterdir()) == ["0", "2", "3"]
    with pytest.raises(Unauthorized):
        tokens.decode(old, keys)
    assert tokens.decode(newer, keys).user_id == "u1"


def test_a_staged_key_already_decrypts(keys, tmp_path):
    """During a rolling rotation another node may already encrypt with our staged key."""
    other = KeyRepository(tmp_path / "other")
    other.path.mkdir()
    (other.path / "1").write_bytes((keys.path / "0").read_bytes())
    (other.path / "0").write_bytes((keys.path / "1").read_bytes())
    assert tokens.decode(tokens.encode(_payload(), other), keys).user_id == "u1"


def test_fewer_than_two_active_keys_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError):
        KeyRepository(tmp_path, max_active_keys=1)


def test_missing_repository_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        KeyRepository(tmp_path / "absent").fernet()
