"""Credentials (Keystone's ``/v3/credentials`` and ``OS-EC2``): blobs kept encrypted at rest, and EC2 key pairs.

Where the encryption key comes from
-----------------------------------
A Fernet key repository of its own (``credential_key_repository``, default ``<state_dir>/credential-keys``),
kept exactly like the token keys (``identity.fernet.KeyRepository``: a staged key ``0``, a primary, secondaries)
but never the same keys, as Keystone keeps ``credential-keys`` apart from ``fernet-keys``. The token keys are
rotated often and their oldest key is dropped: harmless for tokens, which expire, fatal for a blob stored for
years. The queue master key was the other candidate (the API holds it and derives keys from it); it was not
chosen because it cannot be rotated without re-keying every host, and a credential key should rotate on its own.

Rotation (``stratus-manage credential-rotate``, :func:`reencrypt_with_staged`) first re-encrypts every stored blob
with the *staged* key, in one transaction, and only then promotes that key to primary. Every API process already
accepts the staged key, so no blob is ever unreadable, and a blob written by a request during the rotation (under
the old primary) stays readable too: the old primary becomes a secondary, kept until the following rotation, which
re-encrypts that blob before it prunes anything. That needs three active keys, so the repository keeps exactly
:data:`CREDENTIAL_MAX_ACTIVE_KEYS`.

EC2 credentials
---------------
A credential of type ``ec2`` has a JSON blob with at least ``access`` (and usually ``secret``); its id is the
SHA-256 hex digest of the access key, as in Keystone, so an EC2 signature names its credential directly, and
``/users/{user_id}/credentials/OS-EC2/{access}`` finds it by hashing the access key in the path.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from common.exceptions import BadRequest, StratusError
from identity.fernet import KeyRepository
from identity.models import Credential

CREDENTIAL_MAX_ACTIVE_KEYS = 3
"""Staged, primary and one secondary: the secondary holds blobs written while a rotation ran (see above)."""

EC2 = "ec2"
EC2_SCOPE_KEYS = ("trust_id", "app_cred_id", "access_token_id")
"""Blob keys that tie an EC2 credential to a delegation; Keystone refuses to change or unset them."""

USER_LIMIT = 500
"""Most credentials one user may hold (Keystone's ``[credential] user_limit`` default)."""


class UnreadableCredential(StratusError):
    """A stored blob no key of the repository decrypts: its key was removed by hand or the repository replaced."""

    msg_fmt = "The blob of credential {id} cannot be decrypted with the credential keys in {path}."


def ec2_id(access: str) -> str:
    """The id of the EC2 credential with this access key (Keystone's ``hash_access_key``)."""
    return hashlib.sha256(access.encode()).hexdigest()


def parse_ec2_blob(blob: str) -> dict[str, Any]:
    """The blob of an EC2 credential as a dict: a JSON object with a string ``access``; 400 otherwise."""
    try:
        parsed = json.loads(blob)
    except (ValueError, RecursionError):  # a blob of 65,535 "[" nests deeper than the parser recurses
        raise BadRequest("Invalid blob in credential: an ec2 blob is a JSON object.") from None
    if not isinstance(parsed, dict) or not parsed:
        raise BadRequest("Invalid input for field 'blob': an ec2 blob is a JSON object with 'access'.")
    if not isinstance(parsed.get("access"), str) or not parsed["access"]:
        raise BadRequest("Invalid input for field 'access': an ec2 blob needs an access key (a string).")
    return parsed


def check_ec2_update(old_blob: str, new_blob: str) -> None:
    """A new blob for an EC2 credential keeps the delegation it was created under (Keystone's rule)."""
    old, new = json.loads(old_blob), parse_ec2_blob(new_blob)
    for key in EC2_SCOPE_KEYS:
        if old.get(key) != new.get(key):
            raise BadRequest(f"{key} can not be updated for credential")


def new_ec2_blob(trust_id: str | None = None) -> str:
    """A fresh EC2 key pair as Keystone makes one for ``OS-EC2``: random hex access and secret."""
    return json.dumps({"access": uuid.uuid4().hex, "secret": uuid.uuid4().hex, "trust_id": trust_id})


def open_keys(path: Path) -> KeyRepository:
    """The credential key repository at ``path``, created when it has no keys yet.

    ``stratus-manage fernet-setup`` creates it at bring-up; creating it here too means a cloud set up before
    credentials existed, or an in-process test application, works without another step. The lock makes the API
    processes that start together agree on one set of keys (two racing ``setup`` calls could each keep a blob
    under a key the other then replaced).
    """
    keys = KeyRepository(path, CREDENTIAL_MAX_ACTIVE_KEYS)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        keys.setup()
    return keys


def encrypt(blob: str, keys: KeyRepository) -> str:
    return keys.fernet().encrypt(blob.encode()).decode()


def decrypt(credential: Credential, keys: KeyRepository) -> str:
    try:
        return keys.fernet().decrypt(credential.encrypted_blob.encode()).decode()
    except InvalidToken:
        raise UnreadableCredential(id=credential.id, path=keys.path) from None


def reencrypt_with_staged(session: Session, keys: KeyRepository) -> int:
    """Re-encrypt every stored blob with the staged key (the first half of a rotation); returns how many.

    The caller commits, and only then rotates the key files (``KeyRepository.rotate``): a failed transaction
    leaves the blobs and the keys as they were, and a crash between the two leaves blobs under the staged key,
    which every process already reads and which the next rotation promotes anyway.
    """
    multi = keys.fernet()
    # The staged key is the file ``0`` of the repository (``identity.fernet``), read after ``fernet()`` checked the
    # repository is there.
    staged = Fernet((keys.path / "0").read_bytes().strip())
    count = 0
    for credential in session.scalars(select(Credential)):
        try:
            clear = multi.decrypt(credential.encrypted_blob.encode())
        except InvalidToken:
            raise UnreadableCredential(id=credential.id, path=keys.path) from None
        credential.encrypted_blob = staged.encrypt(clear).decode()
        count += 1
    session.flush()
    return count
