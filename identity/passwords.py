"""Password hashing: bcrypt over a SHA-256 pre-hash, so long passwords are neither truncated nor refused.

The stored form is ``bcrypt-sha256$<bcrypt hash>``. The cost comes from the settings (12 by default) and is
never lowered to make authentication look fast; a user that does not exist still costs one hash, so timing
does not reveal which names exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import bcrypt

SCHEME = "bcrypt-sha256$"
_DUMMY_HASH: dict[int, str] = {}


def _prehash(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode()).digest())


def hash_password(password: str, rounds: int) -> str:
    return SCHEME + bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode()


def verify_password(password: str, stored: str | None, rounds: int) -> bool:
    """True when ``password`` matches ``stored``; with no stored hash, spends the same time and says False."""
    if not stored or not stored.startswith(SCHEME):
        if rounds not in _DUMMY_HASH:
            _DUMMY_HASH[rounds] = hash_password("no such user", rounds)
        stored, expected = _DUMMY_HASH[rounds], False
    else:
        expected = True
    digest = stored[len(SCHEME) :].encode()
    ok = bcrypt.checkpw(_prehash(password), digest)
    return hmac.compare_digest(str(ok and expected), "True")
