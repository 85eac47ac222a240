from __future__ import annotations

from identity.passwords import SCHEME, hash_password, verify_password


def test_a_password_verifies_and_a_wrong_one_does_not():
    stored = hash_password("correct horse", rounds=4)
    assert stored.startswith(SCHEME) and "correct horse" not in stored
    assert verify_password("correct horse", stored, rounds=4)
    assert not verify_password("correct horsf", stored, rounds=4)


def test_long_passwords_are_not_truncated_at_bcrypts_72_bytes():
    base = "x" * 100
    stored = hash_password(base + "a", rounds=4)
    assert verify_password(base + "a", stored, rounds=4)
    assert not verify_password(base + "b", stored, rounds=4)


def test_missing_or_foreign_hash_never_verifies():
    assert not verify_password("anything", None, rounds=4)
    assert not verify_password("anything", "$2b$04$notours", rounds=4)


def test_cost_is_encoded_in_the_stored_hash():
    assert hash_password("pw", rounds=5)[len(SCHEME) :].startswith("$2b$05$")
