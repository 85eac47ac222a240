"""Credential blobs: EC2 ids and blobs as Keystone has them, encryption with the credential keys and their rotation,
and the 0020 migration matching the model."""

from __future__ import annotations

import hashlib
import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

import manage.models  # noqa: F401 - every model on the metadata
from common.db import Base, Database, make_engine
from common.exceptions import BadRequest
from common.settings import load
from identity import credentials
from identity.models import Credential, Domain, User
from manage.migrate import upgrade


def test_ec2_id_is_the_sha256_hex_of_the_access_key():
    assert credentials.ec2_id("AKIA") == hashlib.sha256(b"AKIA").hexdigest()


@pytest.mark.parametrize("blob", ["not json", "[1]", "{}", '{"secret": "s"}', '{"access": 5}', "[" * 5000])
def test_an_ec2_blob_is_a_json_object_with_an_access_key(blob):
    with pytest.raises(BadRequest):
        credentials.parse_ec2_blob(blob)


def test_an_ec2_blob_keeps_the_delegation_it_was_made_under():
    old = json.dumps({"access": "a", "secret": "s", "trust_id": "t"})
    credentials.check_ec2_update(old, json.dumps({"access": "b", "secret": "x", "trust_id": "t"}))
    with pytest.raises(BadRequest, match="trust_id"):
        credentials.check_ec2_update(old, json.dumps({"access": "a", "secret": "s"}))


def test_a_new_ec2_blob_has_random_access_and_secret():
    first, second = json.loads(credentials.new_ec2_blob()), json.loads(credentials.new_ec2_blob())
    assert first["access"] != second["access"] and first["secret"] != second["secret"]
    assert first["trust_id"] is None


def test_open_keys_creates_the_repository_once(tmp_path):
    keys = credentials.open_keys(tmp_path / "credential-keys")
    files = {p.name: p.read_bytes() for p in keys.path.iterdir()}
    again = credentials.open_keys(tmp_path / "credential-keys")
    assert sorted(files) == ["0", "1"]
    assert {p.name: p.read_bytes() for p in again.path.iterdir()} == files


def test_rotations_keep_every_stored_blob_readable(tmp_path):
    settings = load({"STRATUS_STATE_DIR": str(tmp_path)})
    upgrade(settings)
    keys = credentials.open_keys(tmp_path / "credential-keys")
    db = Database(settings.effective_database_url)
    try:
        with db.session() as session:
            session.add(Domain(id="default", name="Default"))
            session.flush()
            session.add(User(id="u", name="u", domain_id="default"))
            session.flush()
            session.add(Credential(id="c", user_id="u", type="totp", encrypted_blob=credentials.encrypt("seed", keys)))
        for _ in range(5):  # beyond the three keys kept: an unrotated blob would be lost by now
            with db.session() as session:
                assert credentials.reencrypt_with_staged(session, keys) == 1
            keys.rotate()
        with db.session() as session:
            stored = session.scalars(select(Credential)).one()
            assert "seed" not in stored.encrypted_blob
            assert credentials.decrypt(stored, keys) == "seed"
    finally:
        db.dispose()


def test_migration_matches_the_credential_model(tmp_path):
    settings = load({"STRATUS_STATE_DIR": str(tmp_path)})
    upgrade(settings)
    engine = make_engine(settings.effective_database_url)
    try:
        with engine.connect() as connection:
            diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diffs if "credentials" in repr(d) and "application_credentials" not in repr(d)] == []
